"""Time the evaluation rollout on this machine and compare it with the matmul peak.

    python benchmarks/bench_rollout.py                 # paper + small, batch 64, 16 segments
    python benchmarks/bench_rollout.py --repeats 3     # best of 3 timed rollouts per preset
    python benchmarks/bench_rollout.py --presets small --batch 16

For each preset it times `model.rollout(..., halt="max")` over all segments (Sudoku shapes:
vocab 11, 81 tokens + 1 puzzle-embedding position) and reports the achieved FLOP/s as a
fraction of the float32 matmul peak measured in the same run with a large `torch.mm`.

FLOPs are counted analytically and only for matmuls (2*m*n*k) and attention scores and
weighted sums; norms, activations and RoPE are left out, so the fraction is a slight
underestimate of the work done. A benchmark, not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import time

import torch

from hrm.model import HRM, HRMConfig

SUDOKU = dict(vocab_size=11, seq_len=81, num_puzzle_identifiers=1)


def rollout_flops(config: HRMConfig, batch: int, segments: int) -> int:
    """Matmul + attention FLOPs of `segments` segments on `batch` sequences."""
    h, i, v = config.hidden_size, config.mlp_inner_size, config.vocab_size
    n = config.total_len  # positions the transformer sees (puzzle prefix included)
    tokens = batch * n
    # Per block: fused QKV (h -> 3h), output (h -> h), gate+up (h -> 2i), down (i -> h) ...
    projections = 2 * tokens * (h * 3 * h + h * h + h * 2 * i + i * h)
    # ... and attention: QK^T and PV, each 2 * n * n * head_dim per head, i.e. 2*n*n*h total.
    attention = 2 * (2 * batch * n * n * h)
    block = projections + attention
    blocks_per_segment = (config.H_cycles * config.L_cycles * config.L_layers
                          + config.H_cycles * config.H_layers)
    heads = 2 * tokens * h * v + 2 * batch * h * 2  # lm_head (all positions) + Q head
    return segments * (blocks_per_segment * block + heads)


def matmul_peak(size: int, repeats: int) -> float:
    """Best float32 torch.mm throughput in FLOP/s for square matrices of `size`."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # warm-up (thread pool, allocator)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def time_rollout(model: HRM, inputs: torch.Tensor, ids: torch.Tensor, segments: int,
                 repeats: int) -> float:
    """Best wall time in seconds of a full rollout (after a one-segment warm-up)."""
    for _ in model.rollout(inputs, ids, halt="max", max_segments=1):
        pass
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in model.rollout(inputs, ids, halt="max", max_segments=segments):
            pass
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default="paper,small", help="comma-separated presets")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--segments", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=1,
                        help="timed rollouts per preset (best is reported); default 1 keeps "
                             "the run under ~3 minutes on 2 CPU cores")
    parser.add_argument("--mm-size", type=int, default=4096, help="matrix size for the peak")
    args = parser.parse_args()

    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU")
    print(f"rollout: batch {args.batch}, {args.segments} segments, halt=max, sudoku "
          f"(81 tokens + 1 puzzle position), best of {args.repeats}")
    # The peak is measured before every preset and at the end, and the best is used: on a
    # shared machine a single measurement can catch a busy moment.
    peaks = [matmul_peak(args.mm_size, repeats=5)]
    results = []

    for name in args.presets.split(","):
        config = HRMConfig.from_preset(name.strip(), **SUDOKU)
        model = HRM(config).eval()
        inputs = torch.randint(1, config.vocab_size, (args.batch, config.seq_len))
        ids = torch.zeros(args.batch, dtype=torch.long)
        seconds = time_rollout(model, inputs, ids, args.segments, args.repeats)
        flops = rollout_flops(config, args.batch, args.segments)
        results.append((name.strip(), model.num_parameters(), flops, seconds))
        peaks.append(matmul_peak(args.mm_size, repeats=5))
    peak = max(peaks)
    print(f"matmul peak (torch.mm {args.mm_size}^2, best of {5 * len(peaks)}): "
          f"{peak / 1e9:.1f} GFLOP/s (measurements: "
          f"{', '.join(f'{p / 1e9:.0f}' for p in peaks)})\n")

    header = (f"{'preset':<8}{'params':>10}{'GFLOP':>10}{'time s':>9}{'ms/seg':>9}"
              f"{'puzzles/s':>11}{'GFLOP/s':>10}{'of peak':>9}")
    print(header)
    print("-" * len(header))
    for name, params, flops, seconds in results:
        achieved = flops / seconds
        print(f"{name:<8}{params / 1e6:>9.2f}M{flops / 1e9:>10.0f}"
              f"{seconds:>9.2f}{1000 * seconds / args.segments:>9.0f}"
              f"{args.batch / seconds:>11.2f}{achieved / 1e9:>10.1f}{achieved / peak:>9.1%}")


if __name__ == "__main__":
    main()
