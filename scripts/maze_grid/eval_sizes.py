"""Held-out accuracy of the grid-hrm maze run by maze size and kind, with `hrm solve`'s
engine (the Solver: adaptive halting, the size-derived budget, attempts).

    python scripts/maze_grid/eval_sizes.py RUN_OR_BUNDLE HELD_OUT [--sizes 9 15 30] [--limit 50]

A run folder is read from its latest checkpoint. Prints one row per (kind, size): solved in
one rollout, solved within 8 attempts, mean segments of the first rollout, s per maze.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from hrm.datasets import maze
from hrm.datasets.tasks import Puzzle, get_task
from hrm.inference.solver import Solver
from hrm.model import ACTModel
from hrm.model.checkpoint import read_bundle_info
from hrm.train.checkpoint import CheckpointReader
from hrm.train.evaluate import load_eval_target


def load(path: Path) -> tuple[ACTModel, int | None]:
    """The model `hrm eval` would evaluate (a run's bundle, else its latest checkpoint with
    any weight average; or a bundle), and the steps it was trained."""
    target = load_eval_target(path)
    if target.source.suffix == ".safetensors":  # an unfinished run's checkpoint
        return target.model, CheckpointReader(target.source).state.get("step")
    return target.model, read_bundle_info(target.source).provenance.get("steps")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", type=Path)
    parser.add_argument("held_out", type=Path)
    parser.add_argument("--sizes", nargs="*", default=["9", "15", "20", "30", "40", "60"],
                        help="held-out set names: a side, or 30-any (any path length)")
    parser.add_argument("--kinds", nargs="*", default=["walls", "corridors"])
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--attempts", type=int, default=8)
    parser.add_argument("--max-segments", type=int, default=None)
    parser.add_argument("--halt", choices=["adaptive", "max", "checked"], default="adaptive")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model, step = load(args.model)
    task = get_task("maze")
    rows = []
    print(f"step {step}")
    for kind in args.kinds:
        for size in args.sizes:
            data = np.load(args.held_out / f"{kind}-{size}.npz")
            puzzles = [Puzzle("maze", p, f"{kind}-{size}", i + 1, "grid", a)
                       for i, (p, a) in enumerate(zip(data["puzzles"][: args.limit],
                                                      data["answers"][: args.limit],
                                                      strict=True))]
            one = Solver(model, task, halt=args.halt, max_segments=args.max_segments,
                         batch_size=32)
            started = time.perf_counter()
            first = one.solve(puzzles)
            seconds = (time.perf_counter() - started) / len(puzzles)
            more = Solver(model, task, halt=args.halt, max_segments=args.max_segments,
                          batch_size=32, attempts=args.attempts).solve(puzzles)
            row = {"kind": kind, "size": int(size) if size.isdigit() else size,
                   "n": len(puzzles),
                   "one_rollout": sum(r.solved for r in first),
                   "attempts": sum(r.solved for r in more),
                   "mean_segments": float(np.mean([r.segments for r in first])),
                   "seconds_per_maze": seconds,
                   # per maze: path cells, solved in one rollout, within the attempts,
                   # segments of the first rollout (for tables by path length)
                   "mazes": [[int((p.expected == maze.PATH).sum()), bool(a.solved),
                              bool(b.solved), int(a.segments)]
                             for p, a, b in zip(puzzles, first, more, strict=True)]}
            rows.append(row)
            print(f"{kind:9} {size:>6} one {row['one_rollout']:3}/{row['n']}  "
                  f"within {args.attempts}: {row['attempts']:3}/{row['n']}  "
                  f"segments {row['mean_segments']:5.1f}  {seconds:.2f} s/maze", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"step": step, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
