"""Compare two ladder scoreboards row for row: did a change (a refactor, a new decoder) move any measurement?

Rows are matched by (rung, variant, corpus version); a row that a change filed under another rung is
matched by (variant, corpus version) and reported as re-filed. Timings (latency, training and update
seconds) are left out: they vary from run to run. Reads schema 1 and 2 files (schema 2 rows say what
they are: question set, metric role, headline).

    python scripts/compare_scoreboards.py results/before/scoreboard.json results/after/scoreboard.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from labkit.scoreboard import TIMING_FIELDS

DESCRIBING = ("rung", "variant", "corpus_version", "question_set", "metric_role", "headline", "model", "profile", "seed")


def rows_of(path: Path) -> list[dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))["rows"]


def measured(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in DESCRIBING and k not in TIMING_FIELDS}


def compare(old: list[dict], new: list[dict]) -> list[str]:
    """One line per old row (same, re-filed, changed, gone) and per new row that matches none."""
    by_key = {(r["rung"], r["variant"], r["corpus_version"]): r for r in new}
    by_name = {}
    for r in new:
        by_name.setdefault((r["variant"], r["corpus_version"]), []).append(r)
    lines, matched = [], set()
    for o in old:
        key = (o["rung"], o["variant"], o["corpus_version"])
        n = by_key.get(key) or next((r for r in by_name.get(key[1:], []) if id(r) not in matched), None)
        if n is None:
            lines.append(f"gone     {key}")
            continue
        matched.add(id(n))
        where = "" if n["rung"] == o["rung"] else f"  (re-filed: rung {o['rung']} -> {n['rung']})"
        changed = {k: (v, n.get(k)) for k, v in measured(o).items() if v is not None and n.get(k) != v}
        filled = sorted(k for k, v in measured(n).items() if v is not None and o.get(k) is None)
        status = "changed " if changed else "same    "
        lines.append(f"{status} {key}{where}" + (f"  newly measured: {', '.join(filled)}" if filled else "")
                     + "".join(f"\n           {k}: {a!r} -> {b!r}" for k, (a, b) in changed.items()))
    lines += [f"new      {(r['rung'], r['variant'], r['corpus_version'])}" for r in new if id(r) not in matched]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args()
    lines = compare(rows_of(args.old), rows_of(args.new))
    print("\n".join(lines))
    counts = {word: sum(line.startswith(word) for line in lines) for word in ("same", "changed", "gone", "new")}
    print(", ".join(f"{n} {word}" for word, n in counts.items()))
    return 1 if counts["changed"] or counts["gone"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
