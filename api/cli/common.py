"""What the commands share: messages on stderr, progress bars, argument types, the model to scan with and
the groups CSV."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from api.settings import Settings
from resolver import csvsafe
from resolver.entities import ExtraField
from resolver.errors import InputError
from resolver.ingest import TARGET_KEYS, parse_column_map, read_records
from resolver.linkage import Model, Progress, load_model
from resolver.normalize.region import DEFAULT_REGION, check_region, localize_phones
from resolver.records import PLURAL, Entity, Record
from resolver.scan import ScanResult, scan_account
from resolver.store import Store
from training.serving import ModelResolver

GROUPS_CSV_COLUMNS = ("group_id", "record_id", "group_score", "is_survivor", "needs_review",
                      "name", "phones", "emails", "review_reasons")
MAX_PROBLEMS_SHOWN = 20


def err(line: str) -> None:
    sys.stderr.write(line + "\n")


@contextmanager
def progress_bar(label: str, enabled: bool) -> Iterator[Progress]:
    """A tqdm bar on stderr that appears only if the step takes longer than two seconds."""
    if not enabled:
        yield lambda done, total: None
        return
    from tqdm import tqdm

    bar = tqdm(desc=label, total=0, file=sys.stderr, delay=2, leave=False, unit="")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)  # update() honours `delay`; refresh() would draw at once

    try:
        yield progress
    finally:
        bar.close()


def scan_model(settings: Settings, entity: Entity, threshold: float | None, *, account: str | None = None) -> Model:
    """The model to scan with: the one `account` is served, as the API serves it (its registry champion,
    else the shipped default: training/serving.py); the shipped default without an account. `threshold`
    overrides the review threshold."""
    model = load_model(entity, settings.models_dir)
    if account is not None:
        model = ModelResolver(settings.mlflow_tracking_uri, {entity: model}).model_for(account, entity)
    if threshold is not None:
        from dataclasses import replace

        model = replace(model, review_threshold=threshold,
                        auto_merge_threshold=max(threshold, model.auto_merge_threshold))
    return model


def region(text: str) -> str:
    """argparse type: an ISO 3166 country code for local phone numbers (`--region KZ`)."""
    try:
        return check_region(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def probability(text: str) -> float:
    """argparse type: a match probability strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1 (exclusive)")
    return value


def port(text: str) -> int:
    """argparse type: a TCP port number."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return int(text)


def check_out(out_path: str | None) -> None:
    """Refuse an --out that cannot be written before any work is done."""
    if not out_path:
        return
    parent = Path(out_path).resolve().parent
    if not parent.is_dir():
        raise InputError.one(f"--out {out_path}: directory {parent} does not exist")
    if Path(out_path).is_dir():
        raise InputError.one(f"--out {out_path} is a directory; give a file name such as groups.csv")
    if not os.access(parent, os.W_OK):
        raise InputError.one(f"--out {out_path}: directory {parent} is not writable")


def extra_fields(items: Sequence[str] | None) -> list[ExtraField]:
    return [ExtraField.parse(item) for item in items or []]


def column_map(args: argparse.Namespace, extras: Sequence[ExtraField]) -> dict[str, list[str]] | None:
    """`--map`, checked: a map key is a record field or an extra field's name (--field); anything else is a typo."""
    parsed = parse_column_map(args.map) if args.map else None
    unknown = [k for k in parsed or {} if k not in TARGET_KEYS and k not in {e.name for e in extras}]
    if unknown:
        raise InputError.one(f"unknown key {', '.join(map(repr, unknown))}; valid keys: "
                             f"{', '.join(TARGET_KEYS + tuple(e.name for e in extras))} "
                             "(or add the field first: --field HEADER=KIND)", field="--map")
    return parsed


def read_file(args: argparse.Namespace, entity: Entity, extras: Sequence[ExtraField]) -> list[Record]:
    records = read_records(Path(args.file), entity, column_map=column_map(args, extras),
                           extra_fields={e.name: e.source for e in extras} or None)
    # local numbers ("8 029 …") are read as `--region`'s (default RU, as phone normalization assumes)
    return [localize_phones(r, args.region) for r in records] if args.region != DEFAULT_REGION else records


def read_normalized(args: argparse.Namespace, entity: Entity, extras: Sequence[ExtraField], *,
                    keep_raw: bool = True) -> Iterator[tuple[list[Record], Any]]:
    """`read_file` as a stream of (records, normalized columns) batches for `scan.ingest_normalized`: the file
    is never loaded whole, both cores work on a large one, problems come after the last batch."""
    from resolver.ingest.pipeline import normalized_file_batches

    return normalized_file_batches(Path(args.file), entity, column_map=column_map(args, extras), keep_raw=keep_raw,
                                   region=args.region, extra_fields={e.name: e.source for e in extras} or None)


def scan_one(store: Store, settings: Settings, account: str, entity: Entity, *, threshold: float | None,
              show: bool, served: bool = True) -> ScanResult:
    """The one scan flow (resolver/scan.py: scan_account) with the model the account is served
    (`served`; False: the shipped default, for a file alone), progress bars per step."""
    model = scan_model(settings, entity, threshold, account=account if served else None)
    return scan_account(store, account_id=account, model=model, phase=lambda label, i, n: progress_bar(label, show))


def write_groups(rows: list[dict[str, Any]], out: TextIO) -> None:
    # names, ids, phones are CRM users' text: cells a spreadsheet would run as formulas get a quote in front
    writer = csvsafe.writer(out, lineterminator="\n")
    writer.writerow(GROUPS_CSV_COLUMNS)
    for r in rows:
        writer.writerow([r["group_id"], r["record_id"], f"{r['group_score']:.4f}", int(r["is_survivor"]),
                         int(r["needs_review"]), r["name"] or "", "; ".join(r["phones"] or []),
                         "; ".join(r["emails"] or []), "; ".join(r["review_reasons"] or [])])


def emit_groups(rows: list[dict[str, Any]], out_path: str | None) -> None:
    if out_path:
        tmp = Path(out_path).with_suffix(Path(out_path).suffix + ".part")
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            write_groups(rows, fh)
        tmp.replace(out_path)  # the CSV appears whole or not at all
    else:
        write_groups(rows, sys.stdout)


def summary(result: ScanResult, rows: list[dict[str, Any]], out: str | None, elapsed: float) -> None:
    review = len({r["group_id"] for r in rows if r["needs_review"]})
    err(f"{PLURAL[result.entity]}: {result.n_records} records, {result.n_pairs} scored pairs, "
         f"{result.n_groups} groups ({result.n_grouped_records} records, {review} need review) "
         f"in {elapsed:.1f} s; model {result.model_version}" + (f"; groups written to {out}" if out else ""))
    for warning in result.warnings:
        err(f"warning: {warning}")
