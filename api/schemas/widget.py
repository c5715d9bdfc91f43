"""Bodies of the widget's routes: groups among records, kept merges and their restore, settings, create anyway."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import RecordId, Text
from api.schemas.groups import MergePlan

MAX_AMONG_IDS = 1_000  # a list page holds at most 500 rows; "select all" over pages is sent in parts
MAX_AMONG_GROUPS = 500
MAX_ALLOWED_USERS = 1_000
MAX_TYPED_VALUES = 20
UserId = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_-]+$")]


class AmongIn(BaseModel):
    """The records selected in a list, or none for the whole account."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"record_ids": ["101", "102", "104"]}]})

    record_ids: list[RecordId] | None = Field(
        default=None, max_length=MAX_AMONG_IDS, description="the selected records; absent or null: the whole account")
    limit: int = Field(default=200, ge=1, le=MAX_AMONG_GROUPS, description="groups answered at most")


class AmongGroup(BaseModel):
    group_id: str
    group_score: float
    needs_review: bool
    review_reasons: list[str]
    safe: bool = Field(description="merged by an automatic run: score at or above the auto-merge threshold and "
                                   "no review needed")
    survivor_id: str
    record_ids: list[str] = Field(description="live members, the survivor first")
    names: list[str | None]
    selected_ids: list[str] = Field(description="the members among the asked records")
    merge_plan: MergePlan


class AmongOut(BaseModel):
    entity: Literal["contact", "company"]
    auto_merge_threshold: float
    count: int = Field(description="groups answered")
    records: int = Field(description="records in them")
    truncated: bool = Field(description="more groups than `limit` matched")
    groups: list[AmongGroup]


class KeptMerge(BaseModel):
    """One absorbed record of a reported merge, kept for undo until the retention ends."""

    merge_id: str
    entity: Literal["contact", "company"]
    group_id: str
    record_id: str = Field(description="the absorbed record")
    survivor_id: str
    merged_at: datetime
    merged_by: str | None
    expires_at: datetime = Field(description="when the before-image is purged and undo is no longer possible")
    restored_at: datetime | None
    restored_as: str | None = Field(description="the id of the re-created record")
    restored_by: str | None
    image: dict[str, Any] = Field(description="name, responsible_user_id, phones, emails, company_ids, lead_ids and "
                                              "the raw API v4 object as synced (fields, tags, links)")


class MergesPage(BaseModel):
    items: list[KeptMerge]
    next_cursor: str | None


class Restored(KeptMerge):
    linked: list[dict[str, Any]] = Field(description="the links re-made (to_entity_id, to_entity_type)")


class WidgetSettingsIn(BaseModel):
    """What an administrator saved in the widget's settings."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"allowed_users": ["504141"], "entities": ["contacts", "companies"], "sound": True, "run_cap": 50}]})

    allowed_users: list[UserId] = Field(max_length=MAX_ALLOWED_USERS,
                                        description="amoCRM user ids allowed to search and merge")
    entities: list[Literal["contacts", "companies"]] = Field(default=["contacts", "companies"], max_length=2)
    sound: bool = True
    run_cap: int = Field(default=50, ge=1, le=MAX_AMONG_GROUPS, description="groups one automatic run merges")


class WidgetSettingsOut(BaseModel):
    configured: bool = Field(description="false until an administrator saved the settings: everyone may merge")
    allowed_users: list[str]
    entities: list[str]
    sound: bool
    run_cap: int
    updated_at: datetime | None
    updated_by: str | None
    user_id: str | None = Field(description="the caller's amoCRM user (widget token)")
    allowed: bool = Field(description="whether the caller may search and merge")


class CreatedAnywayIn(BaseModel):
    """The user created a record though it matched these stored ones: not a duplicate, once it exists."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"record_ids": ["101"], "phones": ["+7 916 123-45-67"]}]})

    record_ids: list[RecordId] = Field(min_length=1, max_length=MAX_TYPED_VALUES)
    phones: list[Text] = Field(default_factory=list, max_length=MAX_TYPED_VALUES)
    emails: list[Text] = Field(default_factory=list, max_length=MAX_TYPED_VALUES)


class CreatedAnywayOut(BaseModel):
    pending_id: str
    expires_in_seconds: int
