"""Bodies of the admin router (/v1/admin) and `crm-dedup keys --url`: accounts and their API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.schemas.common import problem_responses
from resolver.accounts import MAX_LABEL_CHARS, KeyInfo

AccountName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
Label = Annotated[str, StringConstraints(max_length=MAX_LABEL_CHARS)]
_CREATED = "2026-11-24T10:00:00Z"


class AccountIn(BaseModel):
    """A new account: its name (the amoCRM account id for widget tokens, or any name) and its first key's label."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "acme"},
                                                                              {"name": "29085955", "label": "widget"}]})

    name: AccountName
    label: Label | None = Field(None, description="what the first key is for; default `initial`")


class KeyIn(BaseModel):
    """A new key's label (what it is for, so the right one can be revoked later)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"label": "1c-sync"}, {}]})

    label: Label | None = None


class KeyOut(BaseModel):
    """An API key as lists show it: never the key itself."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "key_id": "key_3f9a0c1b7d2e", "account_id": "acme", "label": "1c-sync", "created_at": _CREATED,
        "revoked_at": None, "last_used_at": "2026-11-24T10:05:00Z", "active": True}]})

    key_id: str
    account_id: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="refreshed at most once a minute")
    active: bool

    @classmethod
    def of(cls, info: KeyInfo) -> KeyOut:
        return cls(key_id=info.key_id, account_id=info.account_id, label=info.label, created_at=info.created_at,
                   revoked_at=info.revoked_at, last_used_at=info.last_used_at, active=info.active)


class NewKeyOut(BaseModel):
    """A key just made: `key` is shown this once (only its hash is stored)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "account_id": "acme", "key_id": "key_3f9a0c1b7d2e", "label": "1c-sync",
        "key": "cdk_Zk9yQm1hU3RhcnRzV2l0aEFLZXlUaGF0SXNSYW5kb20"}]})

    account_id: str
    key_id: str
    label: str | None
    key: str = Field(description="`Authorization: Bearer <key>`; store it now, it is not shown again")


class KeyList(BaseModel):
    """An account's keys, revoked ones included, oldest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": KeyOut.model_config["json_schema_extra"]
                                                               ["examples"]}]})  # type: ignore[index]

    items: list[KeyOut]


def admin_responses(**details: str) -> dict[int | str, dict[str, Any]]:
    """An admin route's `responses=`: 401 (admin token), 404 (admin API off, or the thing asked for), 429."""
    return problem_responses(**{
        "e401": "send `Authorization: Bearer <admin token>` (CRM_DEDUP_ADMIN_TOKEN)",
        "e404": "the admin API is off: set CRM_DEDUP_ADMIN_TOKEN (32+ characters) to turn it on",
        "e429": "too many failed authentications from 203.0.113.7; try again in 42 s", **details})
