"""dedupe's active learning on a file, its questions answered from the truth (run by bench_outside.py).

Runs in another python (env DEDUPE_PYTHON) that has the `dedupe` package: it is not a dependency of
crm-dedup. Arguments: the CSV, the number of labels, the seed; the truth (record id -> entity) as JSON
on stdin. Prints the groups (lists of record ids, two or more each) as JSON on stdout.

Fields as dedupe's csv_example sets them up: site name, address, zip, phone.
"""

from __future__ import annotations

import csv
import json
import random
import sys
from typing import Any


def main() -> None:
    import dedupe  # type: ignore[import-not-found]  # only in DEDUPE_PYTHON

    path, n_labels, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    truth: dict[str, str] = json.loads(sys.stdin.read())
    random.seed(seed)
    data: dict[str, dict[str, Any]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            record: dict[str, Any] = {k: (" ".join(row[k].lower().split()) or None)
                                      for k in ("Site name", "Address", "Zip", "Phone")}
            record["record_id"] = row["Id"]  # not a variable: dedupe carries it, the truth reads it
            data[row["Id"]] = record
    fields = [dedupe.variables.String("Site name"), dedupe.variables.String("Address"),
              dedupe.variables.Exact("Zip", has_missing=True), dedupe.variables.String("Phone", has_missing=True)]
    deduper = dedupe.Dedupe(fields, num_cores=1)
    deduper.prepare_training(data)
    for _ in range(n_labels):
        pairs = deduper.uncertain_pairs()
        if not pairs:
            break
        a, b = pairs[0]
        same = truth[a["record_id"]] == truth[b["record_id"]]
        deduper.mark_pairs({"match": [(a, b)] if same else [], "distinct": [] if same else [(a, b)]})
    deduper.train()
    clusters = deduper.partition(data, 0.5)
    groups = [list(ids) for ids, _ in clusters if len(ids) > 1]
    json.dump(groups, sys.stdout)


if __name__ == "__main__":
    main()
