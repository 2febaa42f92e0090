"""Input rules more than one provider declares (`Input(name, rule)`): the value in its normal
form, or ValueError with the reason a person reads in the check failure."""
from __future__ import annotations

from typing import Any

from providers.rules.names import bare, domain_problem


def domain_name(value: Any) -> str:
    """A domain or host name by the one name rule, in its bare form."""
    problem = domain_problem(value)
    if problem:
        raise ValueError(problem)
    return bare(value)


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def checked_by(problem_of):
    """An input rule from a "why not" rule (`domain_problem`, `address_problem`): the value in its
    bare form, refused with the rule's own reason."""
    def rule(value: Any) -> str:
        value = bare(value) if isinstance(value, str) else value
        problem = problem_of(value)
        if problem:
            raise ValueError(problem)
        return value
    return rule
