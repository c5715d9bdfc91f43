"""`feedback FILE.jsonl` (store reviewers' decisions, all or none) and `feedback export` (the log as JSONL)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from api.cli.common import check_out, err
from api.settings import Settings
from resolver.entities import spec_for
from resolver.errors import InputError
from resolver.records import Decision
from resolver.store import Store

FEEDBACK_EXPORT = "export"  # `crm-dedup feedback export`: the word that is not a file name


def cmd_feedback(args: argparse.Namespace, settings: Settings) -> int:
    """`feedback FILE.jsonl`: store a file of decisions (all or none); `feedback export`: write the log."""
    if args.file == FEEDBACK_EXPORT:
        return _feedback_export(args, settings)
    if args.entity or args.out:
        raise InputError.one("--entity and --out belong to `crm-dedup feedback export`; a decisions file "
                             "names the entity on every line (a file called `export`: write ./export)")
    from resolver.suppression import record_decisions

    decisions = _read_decisions(Path(args.file))
    with Store(settings.db) as store:
        stored = record_decisions(store, args.account, decisions)
    err(f"stored {len(stored)} decisions of {args.file} in account {args.account!r} "
         f"(#{stored[0].seq}-#{stored[-1].seq}); the groups they touch are regrouped")
    return 0


def _read_decisions(path: Path) -> list[Decision]:
    """Decisions of a JSONL file, one a line (design.md); InputError names the line and field of every problem."""
    import json

    from api.schemas import PairDecisionIn
    from resolver.errors import InputProblem

    source = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError.one(f"cannot read file: {exc.strerror or exc}", source=source) from exc
    except UnicodeDecodeError as exc:
        raise InputError.one("not UTF-8 text", source=source) from exc
    decisions: list[Decision] = []
    problems: list[InputProblem] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(InputProblem(f"not valid JSON: {exc.msg}", source, line_no))
            continue
        if not isinstance(obj, dict):
            problems.append(InputProblem(f"expected a JSON object, got {type(obj).__name__}", source, line_no))
            continue
        try:
            decisions.append(PairDecisionIn.model_validate(obj).to_decision())
        except ValidationError as exc:
            problems += [InputProblem(e["msg"], source, line_no, ".".join(map(str, e["loc"])) or None)
                         for e in exc.errors()]
    if problems:
        raise InputError(problems)
    if not decisions:
        raise InputError.one("the file holds no decisions", source=source)
    return decisions


def _feedback_export(args: argparse.Namespace, settings: Settings) -> int:
    """The account's decisions as JSONL, oldest first, in the shape `crm-dedup feedback FILE` reads."""
    import json
    from datetime import UTC

    check_out(args.out)
    with Store(settings.db) as store:
        decisions = store.decisions(args.account, spec_for(args.entity).entity if args.entity else None)
    lines = []
    for d in decisions:
        assert d.decided_at is not None  # the store stamps every decision it appends
        row = {"entity": d.entity, "left_id": d.left_id, "right_id": d.right_id, "decision": d.decision,
               "reviewer": d.reviewer, "at": d.decided_at.astimezone(UTC).isoformat().replace("+00:00", "Z")}
        if d.group_id:
            row["group_id"] = d.group_id
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    if args.out:
        tmp = Path(args.out).with_suffix(Path(args.out).suffix + ".part")
        tmp.write_text("".join(lines), encoding="utf-8")
        tmp.replace(args.out)  # the file appears whole or not at all
        err(f"{len(lines)} decisions of account {args.account!r} written to {args.out}")
    else:
        sys.stdout.write("".join(lines))
    return 0
