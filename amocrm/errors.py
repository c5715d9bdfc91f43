"""What can go wrong talking to amoCRM.

    CrmDedupError (resolver/errors.py)
    └── AmoError            any failure of the amoCRM connection; carries the HTTP status when there was one
        ├── NeedsReinstall  the tokens are gone for good (refresh refused, access revoked): a person must
        │                   install the integration again; syncing stops until then
        ├── AmoUnavailable  429 / 5xx / network errors that outlasted the bounded retries
        └── AmoBadResponse  an answer that is not what the documented API returns (shape, size, host)
"""

from __future__ import annotations

from resolver.errors import CrmDedupError


class AmoError(CrmDedupError):
    """A failure of the amoCRM connection."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NeedsReinstall(AmoError):
    """The account's tokens cannot be renewed: refresh refused, or the integration was switched off."""


class AmoUnavailable(AmoError):
    """amoCRM kept answering 429 / 5xx (or not at all) through every retry."""


class AmoBadResponse(AmoError):
    """An answer outside the documented shapes or limits."""
