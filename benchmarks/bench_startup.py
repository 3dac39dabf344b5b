"""Start-up time of `hrm --help` (target: under 0.15 s), against a bare Python start.

python benchmarks/bench_startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def timed(command: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    bare = timed([sys.executable, "-c", "pass"], args.runs)
    hrm_help = timed([sys.executable, "-m", "hrm_cli", "--help"], args.runs)
    print(f"python -c pass     {bare * 1000:7.1f} ms")
    print(f"hrm --help         {hrm_help * 1000:7.1f} ms  ({hrm_help / bare:.1f}x bare python)")
    print(f"target 150 ms: {'met' if hrm_help < 0.15 else 'MISSED'}")


if __name__ == "__main__":
    main()
