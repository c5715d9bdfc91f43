"""Draw the widget's logo PNGs (standard library only): two overlapping cards, the overlap in red.

amoCRM wants five logos of fixed sizes in images/ (widget docs, "images/"); `build.py` lists and checks them.
Run it again after changing the drawing; the files are committed, so a build needs no drawing.

    python widget/draw_logos.py
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

from build import REQUIRED_IMAGES  # widget/ is on sys.path when this runs as a script

_BACKGROUND = (255, 255, 255)
_CARD = (30, 136, 229)  # blue: a record
_OVERLAP = (229, 57, 53)  # red: what two records share, the same red as the widget's frame

Rgb = tuple[int, int, int]


def _pixel(x: float, y: float, width: int, height: int) -> Rgb:
    # two squares of side s, the second shifted by s/2 right and down, centred in the image
    s = min(width, height) * 0.56
    left, top = (width - 1.5 * s) / 2, (height - 1.5 * s) / 2
    in_first = left <= x < left + s and top <= y < top + s
    in_second = left + s / 2 <= x < left + 1.5 * s and top + s / 2 <= y < top + 1.5 * s
    if in_first and in_second:
        return _OVERLAP
    return _CARD if in_first or in_second else _BACKGROUND


def png_bytes(width: int, height: int) -> bytes:
    """The logo as an 8-bit RGB PNG (PNG spec, ISO/IEC 15948: signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type 0 (None) for every scanline
        for x in range(width):
            rows.extend(_pixel(x + 0.5, y + 0.5, width, height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # depth 8, colour type 2 (RGB)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) \
        + chunk(b"IEND", b"")


def draw_logos(images: Path) -> list[Path]:
    """Write every logo of build.REQUIRED_IMAGES into `images`; the paths written."""
    images.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (width, height) in REQUIRED_IMAGES.items():
        path = images / name
        path.write_bytes(png_bytes(width, height))
        written.append(path)
    return written


if __name__ == "__main__":
    for written in draw_logos(Path(__file__).parent / "images"):
        sys.stderr.write(f"wrote {written}\n")
