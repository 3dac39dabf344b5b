"""Training-step speed on the CPU: float32 vs bfloat16 activations, eager vs compiled.

    python benchmarks/bench_cpu_training.py                   # maze 11x11 and sudoku shapes
    python benchmarks/bench_cpu_training.py --threads 2 --batch 32

One training step = one ACT segment forward (all H/L cycles) + the 1-step-gradient backward,
as `hrm train` runs it. Also times the attention alone in bfloat16 through PyTorch's CPU
kernel and through the float32 route the model takes on the CPU (model/layers.py), because
that kernel is slower in half precision than in float32 at these sizes. bfloat16 pays off
only on CPUs with AMX (`hrm doctor` says); elsewhere expect the ratio to drop below 1.

Everything is measured in one run and printed as ratios; numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from hrm.model import HRM, HRMConfig
from hrm.model.loss import act_loss

SHAPES = {
    "maze11": dict(vocab_size=6, seq_len=121, hidden_size=128, puzzle_emb_ndim=0,
                   pos_encodings="rope"),
    "sudoku": dict(vocab_size=11, seq_len=81, hidden_size=256, puzzle_emb_ndim=256,
                   pos_encodings="rope"),
}


def seconds_per_call(fn, repeats: int) -> float:
    for _ in range(2):
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def training_step_time(shape: dict, dtype: str, compiled: bool, batch: int,
                       repeats: int) -> float:
    config = HRMConfig.from_preset("small", num_heads=4, H_layers=2, L_layers=2,
                                   forward_dtype=dtype, **shape)
    model = HRM(config).train()
    if compiled:
        from hrm.train.loop import compile_model

        compile_model(model)
    generator = torch.Generator().manual_seed(0)
    size = (batch, config.seq_len)
    data = {"inputs": torch.randint(1, config.vocab_size, size, generator=generator),
            "labels": torch.randint(1, config.vocab_size, size, generator=generator),
            "puzzle_identifiers": torch.zeros(batch, dtype=torch.long)}

    def step() -> None:
        carry = model.initial_carry(data)
        carry, outputs = model(carry, data)
        loss, _ = act_loss(outputs, carry.current_data["labels"], carry.halted, carry.steps)
        loss.backward()
        model.zero_grad(set_to_none=True)

    return seconds_per_call(step, repeats)


def attention_time(batch: int, seq: int, head_dim: int, via_float32: bool,
                   repeats: int) -> float:
    q, k, v = (torch.randn(batch, 4, seq, head_dim, dtype=torch.bfloat16, requires_grad=True)
               for _ in range(3))

    def call() -> None:
        a, b, c = (t.float() for t in (q, k, v)) if via_float32 else (q, k, v)
        F.scaled_dot_product_attention(a, b, c).to(torch.bfloat16).sum().backward()

    return seconds_per_call(call, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (slow "
                        "to start, needs a C++ compiler)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}")

    for name in args.shapes:
        shape = SHAPES[name]
        head_dim = shape["hidden_size"] // 4
        kernel = attention_time(args.batch, shape["seq_len"], head_dim, False, args.repeats)
        routed = attention_time(args.batch, shape["seq_len"], head_dim, True, args.repeats)
        print(f"{name}: attention fwd+bwd bf16 kernel {kernel * 1e3:.1f} ms, via float32 "
              f"{routed * 1e3:.1f} ms ({kernel / routed:.2f}x)")
        base = training_step_time(shape, "float32", False, args.batch, args.repeats)
        rows = [("float32 eager", base),
                ("bfloat16 eager", training_step_time(shape, "bfloat16", False, args.batch,
                                                      args.repeats))]
        if not args.no_compile:
            for dtype in ("float32", "bfloat16"):
                rows.append((f"{dtype} compiled", training_step_time(
                    shape, dtype, True, args.batch, args.repeats)))
        for label, seconds in rows:
            print(f"{name}: {label:18s} {seconds:.3f} s/step, {args.batch / seconds:6.1f} "
                  f"samples/s, {base / seconds:.2f}x float32 eager")


if __name__ == "__main__":
    main()
