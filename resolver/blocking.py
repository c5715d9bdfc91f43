"""Blocking outside Splink: which blocking rules are plain key equalities the store can look up.

The store keeps every record's blocking keys (`record_keys`: "<column>:<value>" for the spec's key
columns, written with the record), so the pairs of a few changed records against the whole base are
an index lookup (store.candidate_pairs), not a pass over the base. That equals Splink's blocking only
while the model's rules are plain equalities on those key columns (list columns exploded): `rules_are_keys`
checks it, and an incremental scan falls back to a full one when they are not (an account's own fields
add rules).
"""

from __future__ import annotations

import re
from typing import Any

from resolver.entities import EntitySpec

_EQUALITY = re.compile(r'l\."(\w+)" = r\."(\w+)"')


def rule_columns(settings: dict[str, Any]) -> list[str] | None:
    """The column each blocking rule of `settings` joins on, or None if a rule is not one equality."""
    out = []
    for rule in settings.get("blocking_rules_to_generate_predictions", []):
        text = rule["blocking_rule"] if isinstance(rule, dict) else str(rule)
        m = _EQUALITY.fullmatch(text.strip())
        if not m or m.group(1) != m.group(2):
            return None
        exploded = rule.get("arrays_to_explode") if isinstance(rule, dict) else None
        if exploded not in (None, [], [m.group(1)]):
            return None
        out.append(m.group(1))
    return out


def rules_are_keys(settings: dict[str, Any], spec: EntitySpec) -> bool:
    """Whether the blocking rules join on exactly the spec's key columns (what `record_keys` holds)."""
    columns = rule_columns(settings)
    return columns is not None and set(columns) == set(spec.key_columns)
