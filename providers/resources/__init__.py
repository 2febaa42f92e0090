"""The dynamic providers the stacks declare: one provider (and its resource) per module."""
