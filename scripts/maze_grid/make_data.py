"""Mixed-size maze data for the grid-hrm maze run (both kinds, long and short paths).

    python scripts/maze_grid/make_data.py OUT [--train 60000] [--canvas 16] [--long 1.2] [--far]

OUT/data: a built dataset (train + test) whose mazes of 5..canvas a side (rectangles too)
sit in the top-left corner of a canvas x canvas square, padded with token 0. A third of
them have a path of at least `--long` times their half-perimeter (at most a quarter of
their cells); with --far, that third are also at least 2/3 of the canvas a side, with G
as far from S as the maze allows.
OUT/held-out/<kind>-<size>.npz: square held-out sets (puzzles, answers) for larger sizes.
Every maze has its own random stream (kind, shape, seed, index): seed 1 is train, 2 test,
3 held-out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hrm.datasets import maze, maze_kinds
from hrm.datasets.format import DatasetMetadata, SplitBuilder, write_dataset


def draw(seed: int, index: int, canvas: int, long: float,
         far: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, index])
    kind = maze_kinds.KINDS[index % 2]
    h, w = (int(v) for v in rng.integers(5, canvas + 1, size=2))
    # A third each: any path, a path of about the perimeter, a long one.
    band = index // 2 % 3
    longest = far and band == 2
    if longest:
        h, w = (int(v) for v in rng.integers(max(5, 2 * canvas // 3), canvas + 1, size=2))
    min_path = [0, (h + w) // 2, int(long * (h + w))][band]
    min_path = min(min_path, h * w // 4)
    # G farthest already gives each draft its longest path, so fewer drafts per length
    # are tried before settling for less: 0.08 s a maze on a 32x32 canvas, not 0.4.
    options = {"tries": 100, "farthest": True} if longest else {}
    while True:
        try:
            return maze_kinds.make(kind, h, w, seed, index, min_path=min_path, **options)
        except ValueError:  # too long for this shape and kind: settle for a bit less
            if min_path == 0:
                raise
            min_path = int(min_path * 0.9)


def split(seed: int, count: int, canvas: int, long: float,
          far: bool) -> tuple[DatasetMetadata, dict]:
    builder = SplitBuilder()
    for i in range(count):
        puzzle, answer = draw(seed, i, canvas, long, far)
        q = np.zeros((canvas, canvas), np.uint8)
        a = np.zeros((canvas, canvas), np.uint8)
        h, w = puzzle.shape
        q[:h, :w] = puzzle + 1
        a[:h, :w] = answer + 1
        builder.add_puzzle([(q, a)])
        builder.end_group()
    sets = {"all": builder.build(np.uint8, canvas * canvas)}
    meta = DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0,
                           vocab_size=maze.VOCAB_SIZE, seq_len=canvas * canvas,
                           num_puzzle_identifiers=1, total_groups=count,
                           mean_puzzle_examples=1)
    return meta, sets


def held_out(out: Path, count: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # "30-any": 30x30 mazes with any path length, for results by path length.
    sets = ((9, 9, 0), (15, 15, 20), (20, 20, 40), (30, 30, 110), (40, 40, 150),
            (60, 60, 230), ("30-any", 30, 0))
    for kind in maze_kinds.KINDS:
        for name, size, min_path in sets:
            path = out / f"{kind}-{name}.npz"
            if path.exists():
                continue
            pairs = [maze_kinds.make(kind, size, size, 3, i, min_path=min_path)
                     for i in range(count)]
            np.savez_compressed(path, puzzles=np.stack([p for p, _ in pairs]),
                                answers=np.stack([a for _, a in pairs]))
            print("wrote", path, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=60000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--held-out", type=int, default=100)
    parser.add_argument("--canvas", type=int, default=16)
    parser.add_argument("--long", type=float, default=1.2)
    parser.add_argument("--far", action="store_true",
                        help="the long third: large mazes, G as far from S as they allow")
    args = parser.parse_args()
    data = args.out / "data"
    if not data.exists():
        splits = {"train": split(1, args.train, args.canvas, args.long, args.far),
                  "test": split(2, args.test, args.canvas, args.long, args.far)}
        write_dataset(data, splits, ["<blank>"])
        print("wrote", data, flush=True)
    held_out(args.out / "held-out", args.held_out)


if __name__ == "__main__":
    main()
