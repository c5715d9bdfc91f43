"""Evidence Splink's per-field weights cannot weigh: conflicts between records and values many share.

Splink adds independent field weights, so a rare shared phone (+25 bits) outweighs two different
INNs (-9 bits): the branches of one holding, which share a head-office phone, a site and a mail
domain, would group as one company. This step runs after Splink and before the re-ranker:

- a *conflict* (two valid, different INNs; names that differ in a word on each side, the sibling
  sites "Ромашка-1" / "Ромашка-2" and "Ромашка Север" / "Ромашка Юг" included) takes away every
  positive weight of a shared-value field (phone, email, site and mail domain): such values link
  the branches of one holding, not one company; the same INN removes any conflict;
- a shared value is worth less the more different names carry it: its positive weight loses
  log2(names) bits, and a value more than `RARE_MAX` names carry (a business centre's reception
  phone) counts for nothing.

- contacts (`discount_common_values` off: their phone and email levels count names already): a conflict
  (two names, or one name in two genders: resolver/conflicts.py) takes away a shared phone's, email's or
  employer's positive weight: a department mailbox or an office line links colleagues, not one person;
- the same person on a new phone: the same full name at the same company, with different phones and
  no email on one side, loses nothing for the phones when a namesake there is unlikely (the name's
  share of the base times the company's staff, in names, at most `NAMESAKES_MAX`; the company at most
  `SMALL_COMPANY_MAX` names).

The change is one more term of the pair's explanation (explain.py `EVIDENCE_FIELD`), so contributions still
sum to the weight. Entities whose spec defines no `conflict` are left as they are.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from resolver.entities import RARE_MAX, EntitySpec, ExtraField
from resolver.entities import RESCUE_COMPANY_COLUMN as RESCUE_COMPANY_COLUMN  # the new-phone rule's; re-exported
from resolver.linkage import rounded_base

logger = logging.getLogger(__name__)

# Expected namesakes of a person at their company (the name's share of the base times the company's
# staff in names) below which the same full name there on a new phone is the same person
NAMESAKES_MAX = 0.05
# A company carried by more names than this is a large employer: namesakes there are common
SMALL_COMPANY_MAX = 20
# A name's share is taken over at least this many records: in a small base every name looks common
NAME_BASE_MIN = 10_000


def name_base(n_records: int) -> int:
    """The base size a name's share is taken over: at least NAME_BASE_MIN, and rounded as the scoring rounds
    a base (linkage.rounded_base), so a few new records leave every other pair's share, hence score, as is."""
    return max(rounded_base(n_records), NAME_BASE_MIN)


_RESCUE_COMPARISON = "phone"  # the comparison whose penalty a new phone does not deserve


def _values(row: Mapping[str, Any], columns: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for col in columns:
        value = row.get(col)
        if isinstance(value, list | tuple):
            out.update(v for v in value if v)
        elif value:
            out.add(str(value))
    return out


class EvidenceGuard:
    """Conflicts and shared-value frequencies of one scan base (`table`: a scan input)."""

    def __init__(self, table: pa.Table, spec: EntitySpec, ids: set[str] | None = None) -> None:
        self.spec = spec
        self.shared = spec.shared_values if spec.conflict is not None else {}
        self.n_records = table.num_rows
        rows = table if ids is None else table.filter(pc.is_in(table["unique_id"], pa.array(sorted(ids), pa.string())))
        # counts over the whole base, kept only for the values `rows` hold (the only ones looked up):
        # not a dict of every phone, email and name of 318,000 records
        self.names_per_value = self._names_per_value(table, rows if ids is not None else None) if self.shared else {}
        self.name_counts: dict[str, int] = {}
        if self.shared and spec.name_column in table.column_names:
            counts = pc.value_counts(table.column(spec.name_column).drop_null())
            if ids is not None:
                counts = counts.filter(pc.is_in(counts.field("values"), rows.column(spec.name_column).combine_chunks()))
            self.name_counts = dict(zip(map(str, counts.field("values").to_pylist()),
                                        counts.field("counts").to_pylist(), strict=True))
        keep = [c for c in ("unique_id", "inn", "name_core", "name_tokens", "name_norm", "first_name", "last_name",
                            "emails", *self._columns()) if c in rows.column_names]
        self.rows = {r["unique_id"]: r for r in rows.select(keep).to_pylist()}

    @classmethod
    def from_counts(cls, spec: EntitySpec, rows: Mapping[str, Mapping[str, Any]], names_per_value: Mapping[str, int],
                    name_counts: Mapping[str, int], n_records: int) -> EvidenceGuard:
        """The guard a scan of the whole base builds, from counts taken elsewhere (an incremental scan's):
        `rows` by unique_id, distinct names per shared value and records per name over the base, its size."""
        guard = cls.__new__(cls)
        guard.spec = spec
        guard.shared = spec.shared_values if spec.conflict is not None else {}
        guard.names_per_value, guard.name_counts = dict(names_per_value), dict(name_counts)
        guard.n_records = n_records
        guard.rows = {k: dict(r) for k, r in rows.items()}
        return guard

    def shared_columns(self) -> list[str]:
        """The columns whose values count names (`names_per_value`: one value space over all of them)."""
        return self._columns()

    def _columns(self) -> list[str]:
        return sorted({c for cols in self.shared.values() for c in cols})

    def _names_per_value(self, table: pa.Table, only: pa.Table | None = None) -> dict[str, int]:
        # distinct name cores per value over the whole base, as value_frequency.sql counts them for
        # phones; a site domain and a mail domain are one value space (romashka.ru on both);
        # `only`: rows whose values alone are wanted
        name = self.spec.name_column
        present = [c for c in self._columns() if c in table.column_names]
        if not present or name not in table.column_names:
            return {}

        def values(col: str) -> str:
            return f'unnest("{col}")' if pa.types.is_list(table.schema.field(col).type) else f'"{col}"'

        parts = [f'SELECT {values(col)} AS v, coalesce(nullif("{name}", \'\'), chr(0) || unique_id) AS who FROM base'
                 for col in present]
        wanted = ""
        with duckdb.connect() as con:
            con.register("base", table.select(["unique_id", name, *present]))
            if only is not None:
                con.register("wanted_rows", only.select(present))
                wanted = " UNION ALL ".join(f"SELECT {values(col)} FROM wanted_rows" for col in present)
                wanted = f" AND v IN ({wanted})"
            rows = con.execute(f"SELECT v, count(DISTINCT who) FROM ({' UNION ALL '.join(parts)}) "
                               f"WHERE v IS NOT NULL{wanted} GROUP BY v").fetchall()
        return {str(v): int(n) for v, n in rows}

    def adjust(self, left_id: str, right_id: str, weights: Mapping[str, float], *,
               places: Sequence[str] = ()) -> tuple[float, str | None]:
        """(change in weight, reason) for one pair; `weights` are its per-comparison weights."""
        return adjust_evidence(self.spec, self.rows[left_id], self.rows[right_id], weights,
                               lambda v: float(self.names_per_value.get(v, 1)),
                               lambda v: self.name_counts.get(v, 1) / name_base(self.n_records),
                               places=places)


def _new_phone_rescue(left: Mapping[str, Any], right: Mapping[str, Any], weights: Mapping[str, float],
                      names_carrying: Callable[[str], float], name_share: Callable[[str], float]) -> float:
    """The phone penalty back for the same full name at one small company on a new phone (module doc)."""
    penalty = weights.get(_RESCUE_COMPARISON, 0.0)
    name, company = left.get("name_norm"), left.get(RESCUE_COMPANY_COLUMN)
    if (penalty >= 0 or not name or not company or not left.get("last_name") or not left.get("first_name")
            or name != right.get("name_norm") or company != right.get(RESCUE_COMPANY_COLUMN)
            or (left.get("emails") and right.get("emails"))):
        return 0.0
    staff = names_carrying(str(company))
    if staff > SMALL_COMPANY_MAX or name_share(str(name)) * staff > NAMESAKES_MAX:
        return 0.0
    return -penalty


def adjust_evidence(spec: EntitySpec, left: Mapping[str, Any], right: Mapping[str, Any],
                    weights: Mapping[str, float], names_carrying: Callable[[str], float],
                    name_share: Callable[[str], float] | None = None, *,
                    places: Sequence[str] = ()) -> tuple[float, str | None]:
    """(change in log2 odds, reason) for one pair of normalized rows; the scan and the check both use it.

    `weights` are the pair's per-comparison weights (term frequency included); `names_carrying(value)`
    says how many different names carry a shared value over the base; `name_share(name)` the share of
    the base's records with that name (contacts' new-phone rule; None: the rule is off); `places` are
    the pair's address comparisons (extra fields of kind address).
    """
    if spec.conflict is None or not spec.shared_values:
        return 0.0, None
    conflict = spec.conflict(left, right)
    if conflict and _same_site(left, right, weights, places):
        # one organisation's records name either the agency or the site ("Chicago Commons" / "St. Lucy
        # School"): the same address and the same phone say one place, whatever the names say
        conflict = None
    if not conflict and not spec.discount_common_values:
        rescue = _new_phone_rescue(left, right, weights, names_carrying, name_share) if name_share else 0.0
        return (rescue, "the same name at the same small company on a new phone") if rescue else (0.0, None)
    delta, common = 0.0, []
    for comparison, columns in spec.shared_values.items():
        weight = weights.get(comparison, 0.0)
        if weight <= 0:
            continue
        if conflict:
            delta -= weight
            continue
        shared = _values(left, columns) & _values(right, columns)
        if not shared:
            continue
        names = min(max(names_carrying(v), 1.0) for v in shared)
        if names > RARE_MAX:
            delta -= weight
            common.append(f"{comparison} shared by {names:.0f} names" if math.isfinite(names)
                          else f"{comparison} shared by many names")
        elif names > 1:
            delta -= min(weight, math.log2(names))
    if conflict:
        return delta, f"{conflict}: a shared phone, email or domain does not count"
    if common:
        return delta, "; ".join(common) + ": counts for nothing"
    return delta, None


def _same_site(left: Mapping[str, Any], right: Mapping[str, Any], weights: Mapping[str, float],
               places: Sequence[str]) -> bool:
    """One address (an address comparison for) and one phone (a rare one: a business centre's reception
    phone is many names') on both, and no two valid INNs that differ."""
    if not places or (left.get("inn") and right.get("inn")):
        return False
    return weights.get("phone", 0.0) > 0 and any(weights.get(p, 0.0) > 0 for p in places)


def guard_pairs(table: pa.Table, pairs: pa.Table, spec: EntitySpec, *, threshold: float,
                comparisons: Sequence[str], places: Sequence[str] = ()) -> pa.Table:
    """Splink's pairs with conflicts and common shared values weighed (see the module doc).

    Adds `evidence_weight` (the change in log2 odds) and `evidence_reason`; pairs that fall below
    `threshold` leave. Entities without a conflict rule come back unchanged.
    """
    if spec.conflict is None or pairs.num_rows == 0:
        return pairs
    ids = set(pairs.column("left_id").to_pylist()) | set(pairs.column("right_id").to_pylist())
    return apply_guard(EvidenceGuard(table, spec, ids=ids), pairs, threshold=threshold, comparisons=comparisons,
                       places=places)


def apply_guard(guard: EvidenceGuard, pairs: pa.Table, *, threshold: float, comparisons: Sequence[str],
                places: Sequence[str] = ()) -> pa.Table:
    """`guard_pairs` with the guard given (a full scan builds it from the base, an incremental one from counts)."""
    left_ids, right_ids = pairs.column("left_id").to_pylist(), pairs.column("right_id").to_pylist()
    mw = {c: pairs.column(f"mw_{c}").to_pylist() for c in comparisons if f"mw_{c}" in pairs.column_names}
    tf = {c: pairs.column(f"mw_tf_adj_{c}").to_pylist() for c in comparisons if f"mw_tf_adj_{c}" in pairs.column_names}
    deltas: list[float] = []
    reasons: list[str | None] = []
    for i, (a, b) in enumerate(zip(left_ids, right_ids, strict=True)):
        weights = {c: float(mw[c][i] or 0.0) + float((tf[c][i] if c in tf else 0.0) or 0.0) for c in mw}
        delta, reason = guard.adjust(a, b, weights, places=places)
        deltas.append(round(delta, 3))
        reasons.append(reason)
    weight = pc.add(pairs.column("match_weight"), pa.array(deltas, pa.float64()))
    prob = [1.0 / (1.0 + 2.0 ** -max(min(w, 1000.0), -1000.0)) for w in weight.to_pylist()]
    out = pairs.set_column(pairs.schema.get_field_index("match_weight"), "match_weight", weight)
    out = out.set_column(out.schema.get_field_index("match_probability"), "match_probability", pa.array(prob))
    out = out.append_column("evidence_weight", pa.array(deltas, pa.float64()))
    out = out.append_column("evidence_reason", pa.array(reasons, pa.string()))
    return out.filter(pa.array([p >= threshold for p in prob], pa.bool_()))


# An identifier (a contract or passport number) names one entity; a value more than this share of
# the base carries is a zip, a city or a placeholder typed as one. It is warned about and dropped
# from matching: as the extreme of a term-frequency adjustment, a value half the base has says nothing,
# and as a blocking key it would pair every record holding it with every other.
COMMON_IDENTIFIER_SHARE = 0.02
COMMON_IDENTIFIER_MIN = 10  # in a small base a few records may share one honestly (a family's contract)
_MAX_WARNED_VALUES = 5  # one warning per common value, up to this many per field


def drop_common_identifiers(table: pa.Table, extras: Sequence[ExtraField]) -> tuple[pa.Table, list[str]]:
    """`table` (a scan input) with identifier values shared by many records set to null, and a warning each.

    A value counts as common when more than max(`COMMON_IDENTIFIER_MIN`, `COMMON_IDENTIFIER_SHARE` of
    the base) records carry it.
    """
    limit = max(COMMON_IDENTIFIER_MIN, int(COMMON_IDENTIFIER_SHARE * table.num_rows))
    warnings: list[str] = []
    for extra in extras:
        if extra.kind != "identifier" or extra.column not in table.column_names:
            continue
        column = table.column(extra.column)
        counts = pc.value_counts(column.drop_null()).to_pylist()
        common = sorted((c["values"] for c in counts if c["counts"] > limit), key=str)
        if not common:
            continue
        n_common = {c["values"]: c["counts"] for c in counts}
        for value in common[:_MAX_WARNED_VALUES]:
            share = n_common[value] / max(table.num_rows, 1)
            warnings.append(f"identifier field {extra.name!r}: value {str(value)[:40]!r} is shared by "
                            f"{n_common[value]} records ({share:.0%} of the base); it is left out of matching "
                            "(is the field really an identifier?)")
        if len(common) > _MAX_WARNED_VALUES:
            warnings.append(f"identifier field {extra.name!r}: {len(common) - _MAX_WARNED_VALUES} more values "
                            f"shared by more than {limit} records are left out of matching")
        keep = pc.invert(pc.is_in(column, pa.array(common, column.type)))
        cleared = pc.if_else(keep, column, pa.nulls(len(column), column.type))
        table = table.set_column(table.schema.get_field_index(extra.column), extra.column, cleared)
    for warning in warnings:
        logger.warning(warning)
    return table, warnings

