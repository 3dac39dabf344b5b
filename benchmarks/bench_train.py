"""Training throughput of the real training step, against the matmul peak of the same run.

    python benchmarks/bench_train.py                      # CPU: paper (batch 8), small (32)
    python benchmarks/bench_train.py --steps 10 --presets small
    python benchmarks/bench_train.py --device cuda --compile      # bf16, batch 768 / 768
    python benchmarks/bench_train.py --device cuda --compile --task maze --gradient full \
        --presets small --set hidden_size=256 --set num_heads=4
    python benchmarks/bench_train.py --task maze --presets small --batches 4 --halting halt-only
    python benchmarks/bench_train.py --arch trm --presets small --batches 32

For each preset it builds a synthetic dataset of the task's shapes (Sudoku: vocab 11, 81
tokens; maze: vocab 6, 900 tokens) and times `Trainer.train_step`: the ACT step with the
carry, the Q-target forward, backward, AdamATan2 and sign-SGD, exactly what `hrm train`
runs, after `--warmup` untimed steps. It reports samples/s and the achieved FLOP/s as a
fraction of the best `torch.mm` throughput measured in the same run (float32 on the CPU,
bfloat16 on CUDA, the dtype training computes in): on a GPU that fraction is the MFU.

FLOPs per step are counted by torch on a real step of the same model
(`hrm.model.flops.training_step_flops`: matrix products, convolutions and attention), so
they mean the same for every architecture (`--arch hrm|grid-hrm|trm|trm-mlp`): the
segment's forward, the extra no-grad forward for the Q-learning target (none with
`--halting halt-only`), and the backward of the updates that `--gradient` keeps a graph
for. A benchmark, not a test: the timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hrm.datasets.format import DatasetMetadata, PuzzleSet, write_dataset
from hrm.model.architectures import ARCHITECTURES, config_from_preset
from hrm.model.config import GRADIENTS, HALTINGS, ModelConfig
from hrm.model.flops import training_step_flops
from hrm.train.config import build_config
from hrm.train.loop import Trainer
from hrm.train.recipes import recipe_for

# task -> (vocab size, sequence length): the published Sudoku-Extreme and Maze-Hard layouts.
SHAPES = {"sudoku": (11, 81), "maze": (6, 30 * 30)}


def matmul_peak(size: int, repeats: int, device: torch.device, dtype: torch.dtype) -> float:
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def synthetic_dataset(root: Path, task: str, examples: int) -> Path:
    vocab, seq_len = SHAPES[task]
    rng = np.random.default_rng(0)
    inputs = rng.integers(1, vocab, (examples, seq_len), dtype=np.uint8)
    labels = rng.integers(2, vocab, (examples, seq_len), dtype=np.uint8)
    index = np.arange(examples + 1, dtype=np.int32)
    split = (DatasetMetadata(0, 0, 0, vocab, seq_len, 1, examples, 1.0),
             {"all": PuzzleSet(inputs, labels, np.zeros(examples, np.int32), index, index)})
    return write_dataset(root / "data", {"train": split}, ["<blank>"])


def time_training(task: str, preset: str, batch: int, steps: int, warmup: int, device: str,
                  root: Path, architecture: dict[str, object],
                  compile_: bool) -> tuple[ModelConfig, int, float]:
    """(model config, parameters, best seconds per step over `steps` timed steps)."""
    data = synthetic_dataset(root / preset, task, max(batch * (steps + warmup + 1), 1024))
    recipe = recipe_for(task, str(architecture.get("name", "hrm")))
    recipe = recipe.with_overrides(global_batch_size=batch, eval_interval=0, epochs=1000)
    config = build_config(task, data, root / preset / "run", preset=preset, recipe=recipe,
                          architecture=architecture, device=device, compile=compile_)
    trainer = Trainer(config, device=device)
    trainer.model.train()
    times = []
    batches = iter(trainer.train_loader)
    for i in range(warmup + steps):
        batch = next(batches)
        _sync(trainer.device)
        start = time.perf_counter()
        trainer.train_step(batch)
        _sync(trainer.device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return trainer.model.config, trainer.model.num_parameters(), min(times)


def parse_overrides(items: list[str], arch: str) -> dict[str, object]:
    """`FIELD=VALUE` strings as overrides of the `arch` config, typed like the field's."""
    preset = next(iter(ARCHITECTURES[arch].config.presets))
    defaults = config_from_preset(arch, preset, vocab_size=11, seq_len=81,
                                  num_puzzle_identifiers=1).to_dict()
    for task_field in ("name", "vocab_size", "seq_len", "num_puzzle_identifiers"):
        del defaults[task_field]
    overrides: dict[str, object] = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in defaults or not value:
            raise SystemExit(f"--set {item}: expected FIELD=VALUE with FIELD one of "
                             f"{', '.join(sorted(defaults))}")
        overrides[name] = type(defaults[name])(value)
    return overrides


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="hrm")
    parser.add_argument("--presets", default=None,
                        help="comma-separated presets of --arch [hrm: paper,small; others: "
                             "every preset but tiny]")
    parser.add_argument("--batches", default=None,
                        help="comma-separated global batches per preset "
                             "[CPU: 8,32; CUDA: 768,768]")
    parser.add_argument("--steps", type=int, default=3, help="timed steps (best is reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--mm-size", type=int, default=None,
                        help="matrix size for the peak [CPU 2048, CUDA 8192]")
    parser.add_argument("--task", choices=sorted(SHAPES), default="sudoku")
    parser.add_argument("--gradient", choices=GRADIENTS, default=None,
                        help="updates backpropagated per segment [the preset's: one-step]")
    parser.add_argument("--halting", choices=HALTINGS, default=None,
                        help="how the Q head learns to stop [the preset's: q-learning]")
    parser.add_argument("--compile", action="store_true", help="torch.compile, as hrm train")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a model field for every preset (repeatable), e.g. "
                             "hidden_size=256, H_cycles=3, forward_dtype=float32")
    args = parser.parse_args()
    architecture = {"name": args.arch, **parse_overrides(args.set, args.arch)}
    if args.gradient:
        architecture["gradient"] = args.gradient
    if args.halting:
        architecture["halting"] = args.halting

    device = torch.device(args.device)
    every = [p for p in ARCHITECTURES[args.arch].config.presets if p != "tiny"]
    presets = [p.strip() for p in args.presets.split(",")] if args.presets else every
    default_batches = "768,768" if device.type == "cuda" else "8,32"
    batches = [int(b) for b in (args.batches or default_batches).split(",")]
    batches += [batches[-1]] * (len(presets) - len(batches))
    peak_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    mm_size = args.mm_size or (8192 if device.type == "cuda" else 2048)

    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, "
          f"compute dtype {str(peak_dtype).removeprefix('torch.')}")
    vocab, seq_len = SHAPES[args.task]
    print(f"training step: {args.task} shapes (vocab {vocab}, {seq_len} tokens), "
          f"{'compiled, ' if args.compile else ''}best of {args.steps} after {args.warmup} "
          f"warm-up steps; {architecture}")
    # The peak is measured around every preset and the best kept: on a shared machine a
    # single measurement can catch a busy moment.
    peaks = [matmul_peak(mm_size, 5, device, peak_dtype)]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset, batch in zip(presets, batches, strict=False):
            config, params, seconds = time_training(args.task, preset, batch, args.steps,
                                                    args.warmup, args.device, Path(tmp),
                                                    architecture, args.compile)
            results.append((preset, params, batch, training_step_flops(config, batch), seconds))
            peaks.append(matmul_peak(mm_size, 5, device, peak_dtype))
    peak = max(peaks)
    print(f"matmul peak (torch.mm {mm_size}^2, best of {5 * len(peaks)}): "
          f"{peak / 1e9:.1f} GFLOP/s\n")

    header = (f"{'preset':<8}{'params':>9}{'batch':>7}{'GFLOP/step':>12}{'s/step':>9}"
              f"{'samples/s':>11}{'GFLOP/s':>10}{'of peak':>9}")
    print(header)
    print("-" * len(header))
    for name, params, batch, flops, seconds in results:
        achieved = flops / seconds
        print(f"{name:<8}{params / 1e6:>8.2f}M{batch:>7}{flops / 1e9:>12.1f}{seconds:>9.3f}"
              f"{batch / seconds:>11.1f}{achieved / 1e9:>10.1f}{achieved / peak:>9.1%}")


if __name__ == "__main__":
    main()
