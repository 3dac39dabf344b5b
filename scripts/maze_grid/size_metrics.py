"""The by-size table of a maze bundle (`metrics.held_out_sizes`) from eval_sizes.py's JSON.

    python scripts/maze_grid/size_metrics.py small.json large.json --halt checked \
        --command "..." [--bundle model/defaults/maze]

Prints README's two tables (by size; 30x30 by shortest-path length) as Markdown. With
--bundle, writes the document into that bundle's config.json, replacing the old one.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

BUCKETS = ((1, 20), (21, 40), (41, 60), (61, 90), (91, None))
MIN_PATH = {15: 20, 20: 40, 30: 110, 40: 150, 60: 230}


def bucket_name(low: int, high: int | None) -> str:
    return f"{low}-{high}" if high else f"{low}+"


def by_path_length(row: dict) -> dict[str, dict]:
    """One any-length row's mazes split by path cells."""
    table = {}
    for low, high in BUCKETS:
        mazes = [m for m in row["mazes"] if low <= m[0] and (high is None or m[0] <= high)]
        table[bucket_name(low, high)] = {
            "n": len(mazes),
            "one_rollout": sum(m[1] for m in mazes),
            "attempts": sum(m[2] for m in mazes),
            "mean_segments": round(sum(m[3] for m in mazes) / max(len(mazes), 1), 2),
        }
    return table


def order(row: dict) -> tuple:
    size = row["size"]
    side = size if isinstance(size, int) else int(str(size).split("-")[0])
    return (row["kind"] != "walls", side, not isinstance(size, int))


def document(rows: list[dict], halt: str, command: str, canvas: int = 16) -> dict:
    rows = sorted(rows, key=order)
    return {
        "command": command,
        "note": (f"hrm solve's engine: --halt {halt}, the size-derived segment budget (16 up "
                 f"to {canvas}x{canvas}, the training canvas, then 16 x side / {canvas}), 8 "
                 "attempts on rotated and flipped copies; "
                 "held-out mazes from scripts/maze_grid/make_data.py, seed 3; sizes 15, 20, 30, 40 "
                 "and 60 have shortest paths over 20, 40, 110, 150 and 230 cells; 30-any has any "
                 "path length; seconds_per_maze is the first rollout's, batch 32, one CPU "
                 "thread"),
        "halt": halt,
        "rows": [{k: (round(v, 3) if isinstance(v, float) else v)
                  for k, v in row.items() if k != "mazes"} for row in rows],
        "by_path_length_30x30": {row["kind"]: by_path_length(row) for row in rows
                                 if row["size"] == "30-any"},
    }


def markdown(doc: dict) -> str:
    cells = {(r["kind"], r["size"]): r for r in doc["rows"]}
    sizes = [s for s in dict.fromkeys(r["size"] for r in doc["rows"]) if s != "30-any"]
    lines = ["| side (shortest path) | mazes | random walls | corridors |", "|---|---:|---|---|"]
    for size in sorted(sizes):
        walls, corridors = cells.get(("walls", size)), cells.get(("corridors", size))
        path = f" (over {MIN_PATH[size]} cells)" if size in MIN_PATH else ""

        def cell(r: dict | None) -> str:
            if r is None:
                return "-"
            return (f"{r['one_rollout'] / r['n']:.0%} / {r['attempts'] / r['n']:.0%}, "
                    f"{r['mean_segments']:.1f} seg, {r['seconds_per_maze']:.3g} s")

        counts = " + ".join(str(r["n"]) for r in (walls, corridors) if r)
        lines.append(f"| {size}{path} | {counts} | {cell(walls)} | {cell(corridors)} |")
    lines += ["", "| path cells | random walls | corridors |", "|---|---|---|"]
    paths = doc["by_path_length_30x30"]
    for low, high in BUCKETS:
        name = bucket_name(low, high)
        row = [f"{b['one_rollout']} / {b['attempts']} of {b['n']}"
               for b in (paths[k][name] for k in ("walls", "corridors") if k in paths)]
        label = f"{low}-{high}" if high else f"{low} or more"
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_into(bundle: Path, doc: dict) -> None:
    path = bundle / "config.json"
    config = json.loads(path.read_text())
    config.setdefault("metrics", {})["held_out_sizes"] = doc
    # Atomic: a bundle's config is never left half-written.
    fd, tmp = tempfile.mkstemp(dir=bundle, prefix=".config.", suffix=".json")
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(config, indent=2) + "\n")
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("results", nargs="+", type=Path, help="eval_sizes.py --json files")
    parser.add_argument("--halt", required=True, help="the --halt the results ran with")
    parser.add_argument("--command", required=True, help="the commands, as recorded")
    parser.add_argument("--canvas", type=int, default=16, help="the model's training canvas")
    parser.add_argument("--bundle", type=Path, default=None)
    args = parser.parse_args()
    rows = [row for path in args.results for row in json.loads(path.read_text())["rows"]]
    doc = document(rows, args.halt, args.command, args.canvas)
    print(markdown(doc))
    if args.bundle:
        write_into(args.bundle, doc)
        print(f"wrote metrics.held_out_sizes into {args.bundle / 'config.json'}")


if __name__ == "__main__":
    main()
