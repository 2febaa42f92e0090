"""One shape for "the request is refused": which field, and why.

Every service says no the same way, by raising a `Refused` (an area may subclass it to name
its own refusals: `MailboxRefused`, `RecordRefused` ...). The web turns it into one answer
per blueprint (app/web/errors.py for the JSON APIs, app/web/refusals.py for the pages), so
a view never catches one itself; the CLI prints it.
"""
from __future__ import annotations


class Refused(Exception):
    """The request is refused and nothing was changed. `field` names what is wrong (None when it
    is the request as a whole), `message` says why in words shown to whoever asked; `status` is
    the HTTP answer (422: fix the field and send again) and `code` the JSON APIs' "error"."""

    status = 422
    code = "refused"
    retry_after: int | None = None  # seconds, when asking again later will do (the answer's Retry-After)

    def __init__(self, field: str | None, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.field, self.message = field, message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    @property
    def detail(self) -> str:
        """The JSON answer's "message" (the message itself, unless a refusal says otherwise)."""
        return self.message


class FieldRefused(Refused):
    """A refusal whose text names its field first ("email: already taken"), as the CLI prints it."""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"
