"""Throughput of `hrm solve` on CPU, start-up included, and the time to a first answer.

    python benchmarks/bench_solve.py                  # 2 x 32 sudokus, batch 16 and 64
    python benchmarks/bench_solve.py --count 64 --preset tiny
    python benchmarks/bench_solve.py --threads 1    # on a machine shared with other work
    python benchmarks/bench_solve.py --baseline-python ../old/.venv/bin/python  # before/after

Every figure comes from running the real command, `python -m hrm_cli solve sudoku FILE`,
as a subprocess on two held-out sets: minimal 9x9 puzzles from the offline generator,
seed 2 (the default model trained on seeds 101-109), rated 1-9 (easy: solved in one
rollout of a few segments) and 10-49 (hard: many need retries); or `--puzzles FILE`. With
`--baseline-python`, every configuration also runs under another interpreter (another
checkout's environment), so one run gives a before/after table on one machine. The
current code runs in float32 and in bfloat16 (`--dtypes`); "of peak" is against the
float32 matmul peak in both.

It reports puzzles/s over the whole command (Python and torch start-up, model
loading, reading, solving, verifying, writing) and, from the command's own summary line,
over the solving alone; puzzle-segments/s (the segments of every record, retries
included, per second of solving) and the fraction of the matmul peak that rate reaches
(FLOPs per segment as `hrm.model.flops` counts them, torch.mm measured in the same run),
and for each batch size the ratio of the adaptive
segment rate to the max one: 1.0 when halting early costs nothing. Then the cold start: a
fresh process is given one puzzle on stdin, left open, and the time until its answer line
arrives is measured.

The shipped default Sudoku model is used when there is one; otherwise a randomly
initialised model of `--preset` (the output says so). An untrained model's Q head never
asks to halt, so `--halt adaptive` then runs as many segments as `--halt max`: the
adaptive figures of a random model show the cost of the halting checks, not their gain.
A benchmark, not a test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PUZZLE = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
SUMMARY = re.compile(r"\(([\d.]+) s, ([\d.]+) puzzles/s\)")


def puzzle_set(count: int, low: int, high: int, seed: int = 2) -> list[str]:
    """`count` held-out minimal puzzles rated `low` to `high`."""
    from hrm.datasets import sudoku
    from hrm.datasets.sudoku_generator import GeneratorSettings, generate

    settings = GeneratorSettings(min_rating=low, max_rating=high)
    return [sudoku.format_line(item.puzzle)
            for item in generate(count, seed, settings, workers=2)]


def model_for_benchmark(folder: Path, preset: str) -> tuple[str, str]:
    """(model argument, description): the shipped default, else a random `preset` model."""
    from hrm.inference.store import shipped_models

    for entry in shipped_models():
        if entry.task == "sudoku":
            return entry.name, f"shipped default {entry.name}"
    import torch

    from hrm.datasets.tasks import task_metadata
    from hrm.model import HRM, HRMConfig, save_bundle

    torch.manual_seed(0)
    model = HRM(HRMConfig.from_preset(preset, vocab_size=11, seq_len=81))
    save_bundle(model, folder, task=task_metadata("sudoku", 81, 11),
                provenance={"source": "random weights for a benchmark"})
    params = sum(p.numel() for p in model.parameters())
    return str(folder), (f"RANDOM weights, preset {preset!r} ({params / 1e6:.1f}M parameters, "
                         f"{model.config.halt_max_steps} segments): no trained default exists")


def matmul_peak(size: int = 2048, repeats: int = 5) -> float:
    """Best float32 torch.mm throughput in FLOP/s, on the threads the solves use."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def flops_per_puzzle_segment(model: str) -> int:
    """FLOPs of one segment on one puzzle, counted by torch on the benchmark's model."""
    from hrm.inference.store import open_model
    from hrm.model.flops import segment_flops

    return segment_flops(open_model(model, "sudoku").model.config)


def hrm(python: str, *args: str) -> list[str]:
    return [python, "-m", "hrm_cli", *args]


def run_solve(python: str, puzzles: Path, model: str, batch: int, halt: str,
              env: dict[str, str], options: list[str]) -> tuple[float, float, int, int]:
    """(wall seconds of the whole command, seconds of its solving loop, segments run,
    puzzles solved)."""
    start = time.perf_counter()
    done = subprocess.run(
        hrm(python, "solve", "sudoku", str(puzzles), "--model", model, "--device", "cpu",
            "--batch-size", str(batch), "--halt", halt, "--format", "jsonl", *options),
        capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 3):
        raise SystemExit(f"hrm solve failed ({done.returncode}):\n{done.stderr}")
    match = SUMMARY.search(done.stderr)
    records = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return (wall, float(match.group(1)) if match else float("nan"),
            sum(r["segments"] for r in records), sum(r["status"] == "solved" for r in records))


def first_answer_latency(python: str, model: str, env: dict[str, str],
                         options: list[str]) -> tuple[float, float]:
    """(seconds to the first answer with stdin still open, seconds to exit after EOF)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        hrm(python, "solve", "sudoku", "-", "--model", model, "--device", "cpu", "-q", *options),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=env)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(PUZZLE + "\n")  # a published puzzle, the same in every run
    process.stdin.flush()
    process.stdout.readline()
    first = time.perf_counter() - start
    process.stdin.close()
    process.wait()
    return first, time.perf_counter() - start


# Held-out sets by the generator's rating (a depth-first solver's dead ends): the default
# model solves nearly all of the first in one rollout; the second needs retries.
SETS = {"rated 1-9": (1, 9), "rated 10-49": (10, 49)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=32, help="puzzles to generate per set")
    parser.add_argument("--puzzles", type=Path, default=None,
                        help="a puzzle file to use instead (one puzzle per line)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--preset", default="small", choices=["tiny", "small", "paper"],
                        help="architecture of the random model used when none is shipped")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS for the solve processes [default: torch's]")
    parser.add_argument("--baseline-python", default=None, metavar="PYTHON",
                        help="also run every configuration with this interpreter (another "
                        "checkout's environment), as the rows marked 'before'")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run every configuration this many times, keep the fastest")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"],
                        choices=["float32", "bfloat16"], help="`hrm solve --dtype` values")
    args = parser.parse_args()
    env = {**os.environ, "NO_COLOR": "1"}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    # version: (interpreter, extra solve options)
    versions = {f"now {dtype}": (sys.executable, ["--dtype", dtype]) for dtype in args.dtypes}
    if args.baseline_python:
        versions = {"before": (args.baseline_python, []), **versions}

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sets: dict[str, Path] = {}
        if args.puzzles:
            sets[str(args.puzzles)] = args.puzzles
        else:
            for name, (low, high) in SETS.items():
                sets[name] = folder / f"{name}.txt"
                sets[name].write_text("\n".join(puzzle_set(args.count, low, high)) + "\n")
        model, description = model_for_benchmark(folder / "model", args.preset)
        print(f"model: {description}")
        threads = args.threads or torch.get_num_threads()
        print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {threads} threads, "
              f"device cpu; held-out puzzles: "
              + ", ".join(f"{count_lines(path)} {name}" for name, path in sets.items())
              + ("" if args.puzzles else " (generated, seed 2)") + "\n")
        print(f"{'set':<12} {'code':<13} {'halt':<9} {'batch':>5} {'wall s':>7} "
              f"{'puzzles/s':>10} {'solve s':>8} {'puzzles/s':>10} {'segments':>9} "
              f"{'segments/s':>11} {'of peak':>8} {'solved':>7}")
        print(f"{'':<12} {'':<13} {'':<9} {'':>5} {'(whole command)':>18} "
              f"{'(solving loop only)':>19}")
        if args.threads:
            torch.set_num_threads(args.threads)
        peak = matmul_peak()
        per_segment = flops_per_puzzle_segment(model)
        rates: dict[tuple[str, str, str, int], float] = {}
        # Runs of different configurations alternate, and each keeps its fastest of
        # `--repeats`: on a shared machine a slow spell then hits no configuration alone.
        best: dict[tuple[str, str, str, int], tuple[float, float, int, int]] = {}
        for name, path in sets.items():
            for _ in range(args.repeats):
                for batch in args.batch_sizes:
                    for version, (python, options) in versions.items():
                        for halt in ("max", "adaptive"):
                            run = run_solve(python, path, model, batch, halt, env, options)
                            key = (name, version, halt, batch)
                            if key not in best or run[1] < best[key][1]:
                                best[key] = run
            count = count_lines(path)
            for version in versions:
                for halt in ("max", "adaptive"):
                    for batch in args.batch_sizes:
                        wall, solving, segments, solved = best[name, version, halt, batch]
                        rates[name, version, halt, batch] = segments / solving
                        print(f"{name:<12} {version:<13} {halt:<9} {batch:>5} {wall:7.2f} "
                              f"{count / wall:10.1f} {solving:8.2f} {count / solving:10.1f} "
                              f"{segments:>9} {segments / solving:11.1f} "
                              f"{segments * per_segment / solving / peak:8.1%} {solved:>7}",
                              flush=True)
        print(f"\nof peak: {per_segment / 1e9:.2f} GFLOP per puzzle-segment (torch's count) "
              f"against torch.mm's best here, {peak / 1e9:.1f} GFLOP/s")
        print("adaptive / max puzzle-segments per second (target >= 0.9):")
        for name in sets:
            for version in versions:
                ratio = {b: rates[name, version, "adaptive", b] / rates[name, version, "max", b]
                         for b in args.batch_sizes}
                ratios = [f"batch {b}: {r:.2f}" for b, r in ratio.items()]
                print(f"  {name}, {version}: " + ", ".join(ratios))
        print()
        for version, (python, options) in versions.items():
            first, total = first_answer_latency(python, model, env, options)
            print(f"cold start ({version}), one puzzle on stdin: first answer after {first:.2f} s "
                  f"(process done {total:.2f} s after start)")


def count_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


if __name__ == "__main__":
    main()
