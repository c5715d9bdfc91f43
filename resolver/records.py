"""Records, pairs and groups: the values that flow between ingest, store, linkage and grouping."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Entity = Literal["contact", "company"]
ENTITIES: tuple[Entity, ...] = ("contact", "company")
PLURAL: dict[str, str] = {"contact": "contacts", "company": "companies"}  # also the API's path segment


@dataclass(frozen=True)
class Record:
    """One CRM contact or company as received, before normalization.

    Values are raw strings as the CRM holds them; normalization happens in `entities.py`.
    Multi-valued fields (phones, emails) keep every value the source had.
    """

    entity: Entity
    record_id: str
    name: str | None = None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    company_name: str | None = None  # a contact's company (name as written); unused for companies
    company_ids: tuple[str, ...] = ()  # linked companies (for a contact) by CRM id
    lead_ids: tuple[str, ...] = ()  # linked deals
    open_lead_ids: tuple[str, ...] = ()  # linked deals not closed (won/lost); survivor rule uses them
    inn: str | None = None  # companies: taxpayer id as written
    website: str | None = None
    position: str | None = None
    responsible_user_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted: bool = False
    extra: dict[str, str] = field(default_factory=dict)  # account-defined fields by their config name
    raw: dict[str, Any] = field(default_factory=dict)  # the source object as received (JSON-able)


@dataclass(frozen=True)
class FieldContribution:
    """How much one compared field moved a pair's match weight, and at which level it agreed."""

    field: str
    level: str  # label of the comparison level, e.g. "exact match", "shares a phone"
    gamma: int
    match_weight: float  # partial log2 weight, incl. term-frequency adjustment


@dataclass(frozen=True)
class Pair:
    """Two records the model scored; `left_id` < `right_id` as strings sort."""

    entity: Entity
    left_id: str
    right_id: str
    match_weight: float
    match_probability: float
    contributions: tuple[FieldContribution, ...] = ()


@dataclass(frozen=True)
class Group:
    """Records judged to be one person or company, with a stable id across rescans.

    `record_ids` are sorted; `merge_plan` is resolver/merge_plan.py's plan around `survivor_id`.
    A scan and the regroup after a decision build these; the store keeps them (`save_scan`).
    """

    entity: Entity
    group_id: str
    record_ids: tuple[str, ...]
    group_score: float
    needs_review: bool
    review_reasons: tuple[str, ...] = ()
    survivor_id: str | None = None
    merge_plan: dict[str, Any] = field(default_factory=dict)
    status: str = "open"  # or "merged": the CRM merged it (Store.record_merge)


@dataclass(frozen=True)
class KeyInfo:
    """One API key as lists show it: never the key itself, nor its hash."""

    key_id: str
    account_id: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


DecisionKind = Literal["not_duplicate", "duplicate", "undo"]
DECISION_KINDS: tuple[DecisionKind, ...] = ("not_duplicate", "duplicate", "undo")


@dataclass(frozen=True)
class Decision:
    """A reviewer's word on a pair; the latest one on a pair is in force (`undo` withdraws it).

    `left_id` < `right_id` (use `Decision.of`), so a pair has one spelling.
    """

    entity: Entity
    left_id: str
    right_id: str
    decision: DecisionKind
    reviewer: str | None = None
    decided_at: datetime | None = None
    group_id: str | None = None

    @classmethod
    def of(cls, entity: Entity, a: str, b: str, decision: DecisionKind, *, reviewer: str | None = None,
           decided_at: datetime | None = None, group_id: str | None = None) -> Decision:
        left, right = (a, b) if a < b else (b, a)
        return cls(entity, left, right, decision, reviewer, decided_at, group_id)
