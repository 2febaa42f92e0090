"""Outcomes of a converge that callers branch on (kept apart so the queue imports no engine code)."""


class TransientConvergeError(RuntimeError):
    """Worth retrying later: an upstream timeout, a 5xx, a rate limit, a lock held."""


class PermanentConvergeError(RuntimeError):
    """Retrying will not help until someone changes something; the reason is on the subscription."""
