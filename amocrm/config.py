"""The sync's settings (api/settings.py builds them from the environment) and the duplicate check it is given."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from amocrm.oauth import OAuthApp
from amocrm.ratelimit import DEFAULT_RATE
from resolver.records import Entity

DEFAULT_TAG = "дубль"

# (account, entity, record_id) -> [(match record_id, match_probability)] at the review threshold, best first;
# None when the record is not stored (or deleted)
DuplicatesFn = Callable[[str, Entity, str], "list[tuple[str, float]] | None"]


@dataclass(frozen=True)
class SyncSettings:
    """What the sync needs from the service's settings (api/settings.py builds it)."""

    app: OAuthApp
    public_url: str
    secret_key: str
    base_url: str | None = None
    tag: str = DEFAULT_TAG
    write_back: bool = True
    catchup_seconds: float = 300.0
    rate: float = DEFAULT_RATE
    import_slice_pages: int = 20
    max_retries: int = 10
    backoff_seconds: float = 0.5
    backoff_cap_seconds: float = 30.0
    refresh_margin_seconds: float = 300.0  # refresh this long before the access token expires
