"""Reading the normalization tables in `data/`: the only file access in this package, done at import."""

from __future__ import annotations

from importlib import resources


def read_lines(name: str) -> list[str]:
    """Non-empty, non-comment lines of `data/<name>`, stripped."""
    text = resources.files("resolver.normalize").joinpath("data", name).read_text(encoding="utf-8")
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def read_rows(name: str) -> list[list[str]]:
    """Tab-separated rows of `data/<name>`, cells stripped, empty cells dropped."""
    rows = []
    text = resources.files("resolver.normalize").joinpath("data", name).read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        rows.append([cell.strip() for cell in line.rstrip("\n").split("\t") if cell.strip()])
    return rows
