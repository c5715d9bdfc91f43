"""The scan's pairs and groups on a fixed generated set stay exactly what they were (tests/resolver/golden_scan.py).

Speed work on the scan (blocking, comparison SQL, explanations, writes) must not move a single pair or group.
"""

import json

from tests.resolver.golden_scan import FIXTURE, run


def test_scan_matches_the_golden_pairs_and_groups(tmp_path):
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    got = run(data["records"], tmp_path / "golden.duckdb")
    for entity in ("contact", "company"):
        want = data["expected"][entity]
        assert got[entity]["pairs"] == want["pairs"], entity
        assert got[entity]["groups"] == want["groups"], entity
        assert want["pairs"] and want["groups"]  # the set has duplicates to find
