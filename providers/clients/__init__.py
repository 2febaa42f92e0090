"""One client per upstream API, used by the dynamic providers and the services alike."""
