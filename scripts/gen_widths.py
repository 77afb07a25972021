#!/usr/bin/env python3
"""Generate seobatch/data/widths_liberation_sans.json: advance widths of Liberation Sans Regular.

Liberation Sans is metric-compatible with Arial (the font Google renders title links and
snippets in), so its advances are Arial's. The runtime reads only the JSON table; this
script (and its test) needs fontTools and the font, the runtime neither:

    apt-get install fonts-liberation2          # /usr/share/fonts/truetype/liberation2/
    .venv/bin/pip install fonttools
    .venv/bin/python scripts/gen_widths.py [--font PATH] [--out PATH]

The table holds, for every code point the font maps (Latin, Latin Extended, IPA, Greek,
Cyrillic, punctuation, currency, letterlike and box-drawing symbols, ligatures: about
2,300), the advance in font units (hmtx, no kerning). Runs of consecutive code points are
stored as ``[first_code_point, [advance, ...]]`` to keep the file small. Characters the font
lacks are measured at run time by ``seobatch.quality.widths`` (full-width as one em,
invisible and combining as zero, anything else as the average Latin lowercase advance).
"""

from __future__ import annotations

import argparse
import json
import unicodedata
from pathlib import Path

from fontTools.ttLib import TTFont

DEFAULT_FONT = "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "seobatch" / "data" / "widths_liberation_sans.json"
#: Letters whose average advance stands in for a character the font lacks (etaoin order).
FALLBACK_LETTERS = "etaoinshrdlu"


def advances(font: TTFont) -> dict[int, int]:
    """code point → advance in font units, for every mapped, visible code point."""
    hmtx = font["hmtx"]
    table = {}
    for cp, glyph in font.getBestCmap().items():
        if unicodedata.category(chr(cp)) in ("Cc", "Cf", "Co", "Cs"):
            continue  # controls and invisible formatting: sanitised away, zero at run time
        table[cp] = hmtx[glyph][0]
    return table


def runs(table: dict[int, int]) -> list[tuple[int, list[int]]]:
    """Consecutive code points as ``(first, [advance, ...])``."""
    out: list[tuple[int, list[int]]] = []
    for cp in sorted(table):
        if out and out[-1][0] + len(out[-1][1]) == cp:
            out[-1][1].append(table[cp])
        else:
            out.append((cp, [table[cp]]))
    return out


def build(font_path: str) -> dict[str, object]:
    font = TTFont(font_path, lazy=True)
    table = advances(font)
    upem = font["head"].unitsPerEm
    fallback = round(sum(table[ord(c)] for c in FALLBACK_LETTERS) / len(FALLBACK_LETTERS))
    return {
        "font": font["name"].getDebugName(4),
        "font_version": font["name"].getDebugName(5),
        "licence": "LiberationSans-OFL.txt",
        "units_per_em": upem,
        "fallback_units": fallback,
        "fullwidth_units": upem,
        "count": len(table),
        "runs": runs(table),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--font", default=DEFAULT_FONT, help=f"the TTF to read (default {DEFAULT_FONT})")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="where to write the JSON table")
    args = parser.parse_args(argv)
    data = build(args.font)
    Path(args.out).write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{args.out}: {data['count']} code points from {data['font']} ({data['font_version']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
