"""Seconds per maze as mazes grow, for a grid model (grid-hrm) and, for scale, HRM.

    python benchmarks/bench_grid_sizes.py                      # sides 9 15 20 30 40 60
    python benchmarks/bench_grid_sizes.py --sides 15 30 60 --batch 8 --segments 16

A grid model's cost per segment should grow with the number of cells (3x3 mixing is local),
so seconds per maze-segment divided by cells should stay flat as the side grows; global
attention grows with cells squared. The script times `rollout(halt="max")` for a fixed
number of segments on random mazes of each side and prints, per side: ms per maze-segment,
that divided by cells (relative to the smallest side), and for HRM the same at the sides
its 30x30 canvas allows (a fixed-size model pads every maze to its canvas).
A benchmark, not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import time

import torch

from hrm.datasets import maze, maze_kinds
from hrm.model.architectures import build_model, config_from_preset


def mazes(side: int, batch: int) -> torch.Tensor:
    grids = [maze_kinds.make("walls", side, side, seed=7, index=i)[0] for i in range(batch)]
    return torch.stack([torch.from_numpy(g.reshape(-1).astype("int64") + 1) for g in grids])


def seconds_per_segment(model, inputs: torch.Tensor, segments: int, repeats: int) -> float:
    for _ in model.rollout(inputs, halt="max", max_segments=1):  # warm-up
        pass
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in model.rollout(inputs, halt="max", max_segments=segments):
            pass
        best = min(best, time.perf_counter() - start)
    return best / segments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[9, 15, 20, 30, 40, 60])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    grid = build_model(config_from_preset("grid-hrm", "small", vocab_size=maze.VOCAB_SIZE,
                                          seq_len=256)).eval()
    hrm = build_model(config_from_preset("hrm", "small", vocab_size=maze.VOCAB_SIZE,
                                         seq_len=maze.CANVAS**2, puzzle_emb_ndim=0)).eval()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"{args.segments} segments; grid-hrm small {grid.num_parameters():,} parameters, "
          f"hrm small {hrm.num_parameters():,}")
    print(f"{'side':>5} {'cells':>6} {'grid ms/maze-seg':>17} {'per cell (rel)':>15} "
          f"{'hrm ms/maze-seg':>16}")
    first = None
    for side in args.sides:
        inputs = mazes(side, args.batch)
        per_maze = seconds_per_segment(grid, inputs, args.segments, args.repeats) / args.batch
        per_cell = per_maze / side**2
        first = first or per_cell
        hrm_text = "-"
        if side <= maze.CANVAS:
            canvas = torch.zeros(args.batch, maze.CANVAS, maze.CANVAS, dtype=torch.long)
            canvas.fill_(maze.WALL + 1)
            canvas[:, :side, :side] = inputs.view(args.batch, side, side)
            hrm_s = seconds_per_segment(hrm, canvas.view(args.batch, -1), args.segments,
                                        args.repeats) / args.batch
            hrm_text = f"{1000 * hrm_s:.2f}"
        print(f"{side:>5} {side * side:>6} {1000 * per_maze:>17.2f} {per_cell / first:>15.2f} "
              f"{hrm_text:>16}", flush=True)


if __name__ == "__main__":
    main()
