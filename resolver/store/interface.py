"""The narrow persistence interface every store implements: records, decisions, results, jobs, accounts.

Callers outside `resolver/store/` are typed against `Persistence`, never against a backend's class,
and never run SQL or touch a connection: so a second backend (PostgreSQL) is checked by mypy the
moment it is passed where a store is taken. `Store` (DuckDB) implements it; `store_is_persistence`
below makes mypy prove that.

Rows are dicts by column name where the docstrings say so (typed values are resolver/records.py's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from resolver.entities import EntitySpec, ExtraField
from resolver.records import Decision, Entity, Group, KeyInfo, Pair, Record

if TYPE_CHECKING:
    from resolver.store.duckdb_store import Store


class Persistence(Protocol):
    """What the domain, the API, the CLI and training may ask of a store; every read and write takes account_id
    (the only exceptions say so: the job runner's start-up and the operator's metrics)."""

    # -- unit of work and liveness --------------------------------------------------------------------

    def transaction(self) -> AbstractContextManager[None]:
        """One unit of work: every store call this thread makes inside it commits together or not at all.

        Nested calls (and store methods that are transactions themselves) join the outer one.
        """
        ...

    def bulk_transaction(self) -> AbstractContextManager[None]:
        """`transaction` for a whole file's rows (the store may trade speed for bounded memory)."""
        ...

    def ping(self) -> None:
        """Raise StoreError unless the store answers (liveness)."""
        ...

    def close(self) -> None: ...

    # -- records -----------------------------------------------------------------------------------

    def upsert_records(self, account_id: str, spec: EntitySpec, records: Sequence[Record],
                       normalized: Sequence[dict[str, Any]] | Mapping[str, Sequence[Any]] | None = None) -> int:
        """Insert or replace records by (account, entity, record_id); an older update never wins."""
        ...

    def upsert_table(self, account_id: str, spec: EntitySpec, table: pa.Table) -> int:
        """As `upsert_records`, of the store's rows built already (`duckdb_store.records_table`)."""
        ...

    def records_written(self, rows: int) -> None:
        """After a bulk write of `rows` records committed (`scan.ingest_batches`): refresh what the store
        keeps about its tables (PostgreSQL's planner statistics, skipped inside the write's transaction)."""
        ...

    def count_records(self, account_id: str, entity: Entity) -> int:
        """Live records (not deleted, not merged away) of the account and entity."""
        ...

    def scan_input(self, account_id: str, spec: EntitySpec, extras: Sequence[ExtraField] = ()) -> pa.Table:
        """Live records of one account and entity as the linkage input."""
        ...

    def record_details(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Display and merge-plan fields of the given records, by record_id."""
        ...

    def records_changed_since(self, account_id: str, spec: EntitySpec, since: datetime | None) -> list[dict[str, Any]]:
        """Records of the account and entity written after `since` (all of them when None), deleted ones too."""
        ...

    def records_version(self, account_id: str, entity: Entity) -> int | None:
        """A number that changes after every committed write of the account's records of `entity`, or None
        when other processes write them too (then only `records_changed_since` can tell)."""
        ...

    def entity_totals(self, entity: Entity) -> tuple[int, dict[str, int], int]:
        """(live records, last-scan groups by status, last-scan pairs) of `entity`, summed over all accounts."""
        ...

    def set_extra_fields(self, account_id: str, entity: Entity, extras: Sequence[ExtraField]) -> None:
        """Replace the account's extra-field config for an entity."""
        ...

    def extra_fields(self, account_id: str, entity: Entity) -> list[ExtraField]:
        """The account's extra-field config for an entity, by name."""
        ...

    def accounts_with_records(self) -> list[str]:
        """Every account holding records (the check index warms them at start; across accounts on purpose)."""
        ...

    def record(self, account_id: str, entity: Entity, record_id: str) -> dict[str, Any] | None:
        """One stored record as the API shows it (normalized phones and emails), deleted or not."""
        ...

    def mark_deleted(self, account_id: str, entity: Entity, record_id: str) -> bool:
        """Mark a record deleted (it leaves scans and checks); False when the account has no such record."""
        ...

    # -- decisions ---------------------------------------------------------------------------------

    def add_decisions(self, account_id: str, decisions: Sequence[Decision]) -> int:
        """Append reviewer decisions in one transaction; committed (durable) when this returns."""
        ...

    def decisions(self, account_id: str, entity: Entity | None = None) -> list[Decision]:
        """The whole log of an account (optionally one entity), oldest first."""
        ...

    def decisions_in_force(self, account_id: str, entity: Entity) -> dict[tuple[str, str], Decision]:
        """(left_id, right_id) -> the latest decision on the pair, for pairs not undone."""
        ...

    def cannot_links(self, account_id: str, entity: Entity) -> set[tuple[str, str]]:
        """Pairs a reviewer separated (latest decision `not_duplicate`)."""
        ...

    def separated_from(self, account_id: str, entity: Entity, record_id: str) -> set[str]:
        """Records a reviewer separated from `record_id` (decision in force `not_duplicate`)."""
        ...

    def decision_page(self, account_id: str, *, entity: Entity | None = None, after_seq: int = 0,
                      limit: int = 100) -> list[dict[str, Any]]:
        """The log of an account, oldest first, after decision number `after_seq` (a cursor)."""
        ...

    def append_decisions(self, account_id: str, decisions: Sequence[Decision]) -> list[dict[str, Any]]:
        """`add_decisions` returning the decisions as stored (`decision_page` rows), for a caller's unit of work."""
        ...

    def links_in_force(self, account_id: str, entity: Entity, among: Sequence[str] | None = None
                       ) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """(separated, confirmed): pairs whose decision in force is `not_duplicate`, `duplicate`."""
        ...

    # -- results -----------------------------------------------------------------------------------

    def group_membership(self, account_id: str, entity: Entity) -> dict[str, str]:
        """record_id -> group_id of the last scan (for stable group ids)."""
        ...

    def save_scan(self, *, account_id: str, entity: Entity, scan: dict[str, Any], pairs: pa.Table,
                  groups: Sequence[Group]) -> None:
        """Replace the last scan's pairs and groups of (account, entity) in one transaction."""
        ...

    def set_pairs_separated(self, account_id: str, entity: Entity, pairs: Sequence[tuple[str, str]], *,
                            separated: bool) -> None:
        """Flag (or unflag) stored pairs of the last scan as separated by a reviewer: kept for an undo, never shown."""
        ...

    def open_groups_holding(self, account_id: str, entity: Entity,
                            pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """Open groups of the last scan holding both records of one of `pairs`: group_id, scan_id,
        auto_merge_threshold."""
        ...

    def group_member_ids(self, account_id: str, entity: Entity, group_id: str) -> list[str]:
        """The record ids of one group's members, sorted."""
        ...

    def group_pairs(self, account_id: str, entity: Entity, group_id: str) -> list[Pair]:
        """The last scan's pairs among one group's members, not separated, strongest first."""
        ...

    def pairs_among(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> list[Pair]:
        """The last scan's pairs not separated between any two of `record_ids`, strongest first."""
        ...

    def groups_of_records(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every member of the groups holding any of `record_ids`: group_id, status, scan_id, record_id, live."""
        ...

    def live_record_ids(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> set[str]:
        """Those of `record_ids` the account holds neither deleted nor merged away."""
        ...

    def replace_groups(self, account_id: str, entity: Entity, scan_id: str, removed: Sequence[str],
                       groups: Sequence[Group]) -> None:
        """Drop the groups `removed` and store `groups` (as `save_scan` takes them) as groups of scan `scan_id`."""
        ...

    def groups_export(self, account_id: str, entity: Entity) -> list[dict[str, Any]]:
        """One row per grouped record of the last scan, best groups first (the groups CSV)."""
        ...

    def last_scan(self, account_id: str, entity: Entity) -> dict[str, Any] | None:
        """The `scans` row of the account's last scan of the entity, or None."""
        ...

    # -- incremental scans (resolver/incremental.py; store part scanstate.py) ------------------------

    def scan_snapshot(self, account_id: str, entity: Entity) -> datetime | None:
        """The newest `ingested_at` of the account's records: later stamps are changes."""
        ...

    def scan_state(self, account_id: str, entity: Entity) -> dict[str, Any] | None:
        """The state the last scan left (scan_id, snapshot, model_key, n_base, totals), or None."""
        ...

    def save_scan_state(self, account_id: str, entity: Entity, state: dict[str, Any], vals: pa.Table, *,
                        replace: Sequence[str] | None = None) -> None:
        """Store a scan's state and its records' values (`vals`: record_id, vals); `replace`: only these."""
        ...

    def scan_vals(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> dict[str, list[str]]:
        """record_id -> its values as the last scan stored them."""
        ...

    def scan_holders(self, account_id: str, entity: Entity, vals: Sequence[str], *,
                     scalar: Sequence[str] = ()) -> dict[str, list[str]]:
        """record_id -> stored scan values, of the scanned records holding any of `vals` now (list columns'
        values through the blocking keys, `scalar` columns' in the records)."""
        ...

    def candidate_pairs(self, account_id: str, entity: Entity, record_ids: Sequence[str],
                        groups: Sequence[tuple[Sequence[str], bool, int]], *, kept_keys: Sequence[str],
                        code: str, pruned: Sequence[tuple[int, int]]) -> list[tuple[str, str, bool]]:
        """(left_id, right_id, stored) of the live pairs blocked with one of `record_ids` or within a group
        (holders, all pairs or only stored ones, bound), less those whose (bound, `code`) is `pruned`
        (scanstate.candidate_pairs)."""
        ...

    def live_rows(self, account_id: str, spec: EntitySpec, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The spec's normalized columns of the live ones of `record_ids` (`unique_id` + columns)."""
        ...

    def names_per_key(self, account_id: str, spec: EntitySpec, column: str, values: Sequence[str]) -> dict[str, int]:
        """value -> distinct names of the live records holding it in the key column `column`."""
        ...

    def value_totals(self, account_id: str, entity: Entity, column: str,
                     values: Sequence[str]) -> tuple[dict[str, int], int]:
        """(value -> live records holding it in `column`, live records with `column` set)."""
        ...

    def replace_pairs_of(self, account_id: str, entity: Entity, record_ids: Sequence[str], pairs: pa.Table, *,
                         scan: dict[str, Any], drop: Sequence[tuple[str, str]] = ()) -> None:
        """Replace the stored pairs touching `record_ids`, and the pairs `drop`, with `pairs`; record the scan."""
        ...

    def pairs_touching(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The stored pairs with either record in `record_ids` (contributions as JSON, separated flag)."""
        ...

    def groups_page(self, account_id: str, *, entity: Entity | None = None, min_score: float | None = None,
                    max_score: float | None = None, status: str | None = None, needs_review: bool | None = None,
                    after: tuple[float, str] | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Groups of the last scans, best first, after the cursor `after` = (group_score, group_id)."""
        ...

    def groups_summary(self, account_id: str, *, entity: Entity | None = None, min_score: float | None = None,
                       max_score: float | None = None, status: str | None = None,
                       needs_review: bool | None = None) -> list[dict[str, Any]]:
        """Counts of the groups `groups_page` would list under the same filters."""
        ...

    def group(self, account_id: str, group_id: str, *, survivor_id: str | None = None) -> dict[str, Any] | None:
        """One group with `members`, `pairs` among them, `merge_plan` and the `decisions` in force among them."""
        ...

    def record_merge(self, account_id: str, group_id: str, *, survivor_id: str,
                     absorbed_ids: Sequence[str], merged_by: str | None = None) -> dict[str, Any]:
        """Record the merge the CRM made in a group: the absorbed records point at the survivor; their
        before-images are kept (merge_images) in the same transaction, for undo."""
        ...

    # -- the widget: groups among records, kept merges, allow-list, create anyway (store/merges.py) -------

    def groups_among(self, account_id: str, entity: Entity, record_ids: Sequence[str] | None, *,
                     limit: int) -> list[dict[str, Any]]:
        """Open groups holding any of `record_ids` (all open groups when None), best first, live members."""
        ...

    def merges_page(self, account_id: str, *, entity: Entity | None = None,
                    after: tuple[datetime, str] | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Kept merges (before-images), newest first, after the cursor (merged_at, merge_id)."""
        ...

    def merge_image(self, account_id: str, merge_id: str) -> dict[str, Any] | None:
        """One kept merge as `merges_page` lists it."""
        ...

    def claim_restore(self, account_id: str, merge_id: str, *, by: str | None) -> dict[str, Any]:
        """Mark a kept merge as being restored; NotFound, or Conflict when restored (or claimed) already."""
        ...

    def finish_restore(self, account_id: str, merge_id: str, new_id: str | None) -> None:
        """The claimed restore made record `new_id`; None withdraws the claim."""
        ...

    def purge_merge_images(self, before: datetime, account_id: str | None = None) -> int:
        """Drop before-images of merges made before `before`; how many."""
        ...

    def widget_settings(self, account_id: str) -> dict[str, Any] | None:
        """allowed_users, entities, sound, run_cap, updated_at, updated_by; None before an admin saved them."""
        ...

    def save_widget_settings(self, account_id: str, *, allowed_users: Sequence[str], entities: Sequence[str],
                             sound: bool, run_cap: int, by: str | None) -> None:
        """Replace the account's widget settings."""
        ...

    def add_pending(self, account_id: str, entity: Entity, *, record_ids: Sequence[str], phones: Sequence[str],
                    emails: Sequence[str], reviewer: str | None, expires_at: datetime) -> str:
        """Keep a create-anyway decision until its record arrives; its id."""
        ...

    def open_pending(self, account_id: str, entity: Entity, now: datetime) -> list[dict[str, Any]]:
        """Create-anyway decisions not applied and not expired, oldest first."""
        ...

    def mark_pending_applied(self, account_id: str, pending_id: str, record_id: str) -> None: ...

    # -- jobs --------------------------------------------------------------------------------------

    def create_job(self, account_id: str, *, kind: str, entity: Entity | None) -> dict[str, Any]:
        """A new `queued` job of the account; returns it as `job` does."""
        ...

    def queue_job(self, account_id: str, *, kind: str, entity: Entity | None) -> tuple[dict[str, Any], bool]:
        """The account's unfinished job of this kind that covers `entity`, else a new `queued` one."""
        ...

    def job(self, account_id: str, job_id: str) -> dict[str, Any] | None:
        """A job of the account (another account's job is None): status, percent, result (parsed), error."""
        ...

    def update_job(self, account_id: str, job_id: str, *, status: str, percent: float,
                   result: dict[str, Any] | None = None, error: str | None = None) -> None:
        """Move a job on; `done` and `failed` also stamp finished_at."""
        ...

    def fail_unfinished_jobs(self, reason: str) -> int:
        """Mark every queued or running job failed; returns how many."""
        ...

    # -- accounts ----------------------------------------------------------------------------------

    def account_exists(self, account_id: str) -> bool:
        """Whether `account_id` is registered."""
        ...

    def add_account(self, account_id: str, created_at: datetime) -> None:
        """Register an account (the caller checked it is new, in the same transaction)."""
        ...

    def key_id_taken(self, key_id: str) -> bool:
        """Whether any account has a key `key_id` (key ids are unique across accounts)."""
        ...

    def add_api_key(self, *, key_id: str, account_id: str, key_hash: str, label: str | None,
                    created_at: datetime) -> None:
        """Store a new key by its hash; the key itself is never stored."""
        ...

    def api_keys(self, account_id: str) -> list[KeyInfo]:
        """The account's keys, revoked ones included, oldest first."""
        ...

    def api_key(self, account_id: str, key_id: str) -> KeyInfo | None:
        """One key of the account (another account's key is None)."""
        ...

    def revoke_api_keys(self, account_id: str, revoked_at: datetime, *, key_id: str | None = None) -> None:
        """Revoke the account's active key `key_id` (None: every active key); revoked ones keep their time."""
        ...

    def active_keys_with_hash(self, key_hash: str) -> list[tuple[str, str, str, datetime | None]]:
        """(key_id, account_id, key_hash, last_used_at) of active keys of existing accounts with this hash."""
        ...

    def note_key_use(self, key_id: str, used_at: datetime) -> None:
        """Set an active key's `last_used_at`: one statement, outside the writers' lock."""
        ...


def store_is_persistence(store: Store) -> Persistence:
    """Never called: mypy checks here that the DuckDB `Store` implements `Persistence`."""
    return store
