"""Synthetic amoCRM contacts and companies with known truth, for the demo, the tests and `make bench`.

Each record renders a hidden person or company. `truth` maps every record id to that hidden key, so
records with one key are duplicates; `hard_negatives` marks records planted to look alike while being
different people or companies. One `random.Random(seed)` drives everything: same arguments, same output.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from training.synthetic.common import DUPLICATE_RATE, Entity, SyntheticSet
from training.synthetic.companies import generate_companies
from training.synthetic.contacts import generate_contacts
from training.synthetic.files import write_set

__all__ = ["DUPLICATE_RATE", "GENERATORS", "Entity", "SyntheticGenerator", "SyntheticSet", "generate_companies",
           "generate_contacts", "main", "write_set"]


class SyntheticGenerator(Protocol):
    """`generate_contacts` or `generate_companies` called with the arguments both take."""

    def __call__(self, n: int, *, seed: int = ..., duplicate_rate: float = ...) -> SyntheticSet: ...


GENERATORS: dict[Entity, SyntheticGenerator] = {
    "contact": generate_contacts, "company": generate_companies,
}


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m training.synthetic --entity contact --n 20000 --seed 1 --out DIR`."""
    parser = argparse.ArgumentParser(prog="python -m training.synthetic", description=__doc__.splitlines()[0])
    parser.add_argument("--entity", choices=tuple(GENERATORS), default="contact")
    parser.add_argument("--n", type=int, default=20_000, help="number of records (default 20000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duplicate-rate", type=float, default=DUPLICATE_RATE)
    parser.add_argument("--out", type=Path, required=True, help="directory for the page and the truth CSV")
    args = parser.parse_args(argv)
    try:
        generated = GENERATORS[args.entity](args.n, seed=args.seed, duplicate_rate=args.duplicate_rate)
    except ValueError as exc:
        parser.error(str(exc))
    for path in write_set(generated, args.out):
        sys.stdout.write(f"{path}\n")
    return 0

