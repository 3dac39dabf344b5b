"""`hrm solve maze CSV --format jsonl` results by shortest-path length, as the shipped maze
bundle records them (metrics.held_out_solve).

    hrm solve maze m9.csv -m MODEL --format jsonl --device cpu > solve.jsonl
    python scripts/maze_grid/solve_buckets.py m9.csv solve.jsonl --json buckets.json

The CSV's rating column is the path's cell count (`hrm datasets generate maze`).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

BUCKETS = ((1, 5), (6, 10), (11, 15), (16, None))
WITHIN = (1, 2, 4, 8)


def bucket_of(cells: int) -> str:
    for low, high in BUCKETS:
        if cells >= low and (high is None or cells <= high):
            return f"path-{low}-{high}" if high else f"path-{low}+"
    raise ValueError(f"a path of {cells} cells")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("csv", type=Path)
    parser.add_argument("jsonl", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with open(args.csv, newline="") as f:
        ratings = [int(row["rating"]) for row in csv.DictReader(f)]
    records = [json.loads(line) for line in args.jsonl.read_text().splitlines() if line]
    if len(records) != len(ratings):
        raise SystemExit(f"{len(records)} results for {len(ratings)} mazes")
    table: dict[str, dict] = {}
    for cells, record in zip(ratings, records, strict=True):
        row = table.setdefault(bucket_of(cells), {"count": 0, "segments": 0,
                                                 "solved_within_attempts": dict.fromkeys(
                                                     map(str, WITHIN), 0)})
        row["count"] += 1
        row["segments"] += record["segments"]
        for k in WITHIN:
            row["solved_within_attempts"][str(k)] += bool(record["solved"]
                                                          and record["attempts"] <= k)
    for row in table.values():
        row["mean_segments"] = round(row.pop("segments") / row["count"], 2)
    ordered = {name: table[name] for name in sorted(table, key=lambda n: int(
        n.split("-")[1].rstrip("+")))}
    for name, row in ordered.items():
        within = " / ".join(str(row["solved_within_attempts"][str(k)]) for k in WITHIN)
        print(f"{name:11} {row['count']:5}  within {'/'.join(map(str, WITHIN))}: {within}"
              f"  segments {row['mean_segments']}")
    if args.json:
        args.json.write_text(json.dumps({"buckets": ordered}, indent=1) + "\n")


if __name__ == "__main__":
    main()
