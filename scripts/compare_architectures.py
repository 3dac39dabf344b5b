"""Architectures compared at equal training FLOPs, on generated data, held-out by bucket.

    python scripts/compare_architectures.py sudoku --work cmp-sudoku --pflop 0.5 \
        hrm:small trm:small trm-mlp:small
    python scripts/compare_architectures.py maze --work cmp-maze --pflop 0.5 \
        hrm:small trm:small grid-hrm:small --time-limit 2h     # run again to continue

Every step is resumable and skipped once done, so the command can be run again (after a
--time-limit, an interrupt or a reboot) until the table is complete:

1. data: training puzzles from the offline generator (seeds 1001...), built with the
   task's augmentation; held-out buckets from other seeds, with any puzzle that is also in
   the training CSV dropped (the count is reported).
2. training: `hrm train TASK --arch A --preset P` with the architecture's own recipe, the
   same global batch for all, and as many steps as PFLOP x 1e15 / (FLOPs of one training
   step, as `hrm.model.flops` counts it on a real step).
   The original recipes (lr 1e-4 after a 2,000-step warm-up, batch 768) are made for runs
   of tens of thousands of steps; a CPU budget of a few thousand steps would end inside
   their warm-up. So every model gets the same short schedule (`--lr`, a warm-up of 5% of
   its steps, a cosine decay to `--lr-min-ratio`, `--weight-decay`) and keeps its own
   model-side choices (gradient, halting, cycles). A recipe's weight average (TRM's EMA,
   decay 0.999, started from the initial weights) is shortened to a time constant of at
   most 10% of the run, so that the initial weights do not weigh in the final model.
3. evaluation, per bucket: `hrm eval --max-segments 16 --attempts 8`: exact accuracy after
   1/2/4/8/16 segments, with adaptive halting, and within 8 attempts as `hrm solve`.

Results: WORK/results.json and WORK/results.md (one table per task: buckets x models),
with parameters, FLOPs per step, steps, training samples/s, peak memory of training (RSS)
and solve puzzles/s.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Held-out buckets: (name, generator options). Sudoku's rating counts a depth-first
# solver's dead ends; a maze's counts the cells of its shortest path.
BUCKETS = {
    "sudoku": [("rating 0", ["--max-rating", "0"]),
               ("rating 1-9", ["--min-rating", "1", "--max-rating", "9"]),
               ("rating 10-49", ["--min-rating", "10", "--max-rating", "49"]),
               ("rating >= 50", ["--min-rating", "50"])],
    "maze": [("9x9", ["--size", "9"]),
             ("9x9, path > 20", ["--size", "9", "--min-path", "20"])],
}
TRAIN = {"sudoku": (["--size", "9"], 10_000, 8), "maze": (["--size", "9"], 20_000, 7)}
SEGMENTS = (1, 2, 4, 8, 16)
ATTEMPTS = 8


@dataclass
class Spec:
    arch: str
    preset: str

    @property
    def name(self) -> str:
        return f"{self.arch}:{self.preset}"

    @property
    def folder(self) -> str:
        return f"run-{self.arch}-{self.preset}"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(command: list[str], stdout: Path | None = None) -> tuple[int, int]:
    """(exit code, peak resident memory in bytes) of a child process."""
    log(" ".join(command))
    out = open(stdout, "w") if stdout else None  # noqa: SIM115 - closed below
    try:
        child = subprocess.Popen(command, stdout=out or subprocess.DEVNULL)
        peak = 0
        while child.poll() is None:
            try:
                status = Path(f"/proc/{child.pid}/status").read_text()
                peak = max(peak, next(int(line.split()[1]) * 1024 for line in
                                      status.splitlines() if line.startswith("VmHWM")))
            except (OSError, StopIteration):
                pass
            time.sleep(0.5)
        return child.returncode, peak
    finally:
        if out:
            out.close()


def generate(task: str, options: list[str], count: int, seed: int, out: Path) -> None:
    if out.exists():
        return
    partial = out.with_suffix(".part.csv")
    code, _ = run(["hrm", "datasets", "generate", task, "--count", str(count), "--seed",
                   str(seed), *options, "--workers", "2", "-q", "--force", "-o", str(partial)])
    if code:
        raise SystemExit(f"generating {out} failed ({code})")
    partial.rename(out)


def questions(path: Path) -> set[str]:
    with open(path, newline="") as f:
        return {row["question"] for row in csv.DictReader(f)}


def prepare_data(task: str, work: Path, held_out: int, count: int | None) -> dict[str, object]:
    options, default_count, aug = TRAIN[task]
    count = count or default_count
    train_csv = work / "train.csv"
    generate(task, options, count, 1001, train_csv)
    seen = questions(train_csv)
    data = work / "data"
    notes: dict[str, object] = {"train": count, "aug": aug, "buckets": {}}
    for index, (bucket, bucket_options) in enumerate(BUCKETS[task]):
        slug = f"bucket-{index}"
        raw = work / f"{slug}-generated.csv"
        generate(task, bucket_options, held_out, 2001 + index, raw)
        kept = work / f"{slug}.csv"
        with open(raw, newline="") as f:
            rows = list(csv.DictReader(f))
        fresh = [row for row in rows if row["question"] not in seen]
        if not kept.exists():
            with open(kept, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(fresh)
        built = work / f"{slug}-data"
        if not built.exists():
            run(["hrm", "datasets", "build", str(kept), "--test", str(kept), "--out",
                 str(built), "-q"])
        notes["buckets"][bucket] = {"count": len(fresh), "dropped": len(rows) - len(fresh),
                                    "data": str(built)}
    if not data.exists():
        code, _ = run(["hrm", "datasets", "build", str(train_csv), "--test",
                       str(work / "bucket-0.csv"), "--aug", str(aug), "--out", str(data),
                       "-q"])
        if code:
            raise SystemExit(f"building {data} failed ({code})")
    return notes


def plan_steps(task: str, spec: Spec, data: Path, batch: int, pflop: float) -> dict:
    from hrm.datasets.format import load_split
    from hrm.model.architectures import build_model, config_from_preset
    from hrm.model.flops import training_step_flops

    meta = load_split(data, "train").metadata
    config = config_from_preset(spec.arch, spec.preset, vocab_size=meta.vocab_size,
                                seq_len=meta.seq_len,
                                num_puzzle_identifiers=meta.num_puzzle_identifiers)
    flops = training_step_flops(config, batch)
    return {"flop_per_step": flops, "steps": max(1, round(pflop * 1e15 / flops)),
            "parameters": build_model(config).num_parameters()}


def schedule(task: str, spec: Spec, steps: int, args: argparse.Namespace) -> list[str]:
    from hrm.train.recipes import recipe_for

    options = ["--lr", str(args.lr), "--warmup-steps", str(max(1, round(0.05 * steps))),
               "--lr-min-ratio", str(args.lr_min_ratio), "--weight-decay",
               str(args.weight_decay)]
    ema = recipe_for(task, spec.arch).ema
    if ema:
        options += ["--ema", f"{min(ema, 1 - 10 / steps):.4g}"]
    return options


def train(task: str, spec: Spec, work: Path, plan: dict, args: argparse.Namespace) -> dict:
    out = work / spec.folder
    if (out / "model" / "model.safetensors").exists():
        return {}
    if (out / "checkpoint.safetensors").exists():
        command = ["hrm", "train", "--resume", str(out)]
    else:
        shutil.rmtree(out, ignore_errors=True)
        command = ["hrm", "train", task, "--data", str(work / "data"), "--arch", spec.arch,
                   "--preset", spec.preset, "--batch-size", str(args.batch), "--steps",
                   str(plan["steps"]), *schedule(task, spec, plan["steps"], args),
                   "--eval-interval", "0", "--checkpoint-interval", "100",
                   "--device", args.device, "--seed", "0", "--out", str(out)]
    if args.time_limit:
        command += ["--time-limit", args.time_limit]
    code, peak = run([*command, "-q"])
    if code:
        raise SystemExit(f"training {spec.name} stopped ({code}); run again to continue")
    return {"train_peak_rss": peak}


def evaluate(spec: Spec, work: Path, notes: dict, device: str) -> dict:
    results = {}
    for bucket, info in notes["buckets"].items():
        report = work / spec.folder / f"eval-{Path(info['data']).name}.json"
        if not report.exists():
            partial = report.with_suffix(".part")
            code, _ = run(["hrm", "eval", str(work / spec.folder), "--data", info["data"],
                           "--max-segments", str(SEGMENTS[-1]), "--attempts", str(ATTEMPTS),
                           "--device", device, "--format", "json", "-q"], stdout=partial)
            if code:
                raise SystemExit(f"evaluating {spec.name} on {bucket} failed ({code})")
            partial.rename(report)
        data = json.loads(report.read_text())
        results[bucket] = {
            "examples": data["examples"],
            **{f"exact_{s}": data["by_segments"][str(s)]["exact_accuracy"] for s in SEGMENTS},
            "adaptive": data["adaptive"]["exact_accuracy"],
            "adaptive_segments": data["adaptive"]["mean_segments"],
            "attempts": data["attempts"]["solved_within"][str(ATTEMPTS)],
            "solve_per_s": data["examples"] / data["attempts"]["seconds"],
        }
    return results


def training_rate(work: Path, spec: Spec) -> float | None:
    lines = (work / spec.folder / "metrics.jsonl").read_text().splitlines()
    # The first windows include start-up; skip them when there are enough.
    rates = sorted(json.loads(line)["samples_per_s"] for line in lines[2 if len(lines) > 4
                                                                          else 0:] if line)
    return rates[len(rates) // 2] if rates else None


def training_curve(work: Path, spec: Spec, steps: int) -> list[float | None]:
    """Exact accuracy of the training batches' halted samples around 25/50/75/100% of the
    steps (the logged windows of the last 5% before each point): where a model leaves the
    trivial answer, without evaluating checkpoints that no longer exist."""
    path = work / spec.folder / "metrics.jsonl"
    if not path.exists():
        return []
    logged = [json.loads(line) for line in path.read_text().splitlines() if line]
    curve: list[float | None] = []
    for quarter in (0.25, 0.5, 0.75, 1.0):
        end = quarter * steps
        window = [m["exact_accuracy"] for m in logged
                  if end - 0.05 * steps < m["step"] <= end
                  and m.get("exact_accuracy") is not None]
        curve.append(sum(window) / len(window) if window else None)
    return curve


def table(task: str, results: dict) -> str:
    names = list(results["models"])
    schedule = (f"batch {results['batch']}, lr {results.get('lr')} with a 5% warm-up and a "
                f"cosine decay to {results.get('lr_min_ratio')}x, weight decay "
                f"{results.get('weight_decay')}")
    rows = [f"## {task}, {results['pflop']} PFLOP of training each", "", schedule + ".", "",
            "| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, label in (("parameters", "parameters"), ("flop_per_step", "GFLOP per step"),
                       ("steps", "steps"), ("samples_per_s", "training samples/s"),
                       ("train_peak_rss", "training peak RSS (MB)")):
        cells = []
        for name in names:
            value = results["models"][name].get(key)
            if value is None:
                cells.append("-")
            elif key == "flop_per_step":
                cells.append(f"{value / 1e9:.1f}")
            elif key == "train_peak_rss":
                cells.append(f"{value / 2**20:.0f}")
            elif isinstance(value, int):
                cells.append(f"{value:,}")
            else:
                cells.append(f"{value:.1f}")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    curves = [results["models"][name].get("curve") or [] for name in names]
    if any(curves):
        cells = [" / ".join("-" if v is None else f"{v:.0%}" for v in curve) or "-"
                 for curve in curves]
        rows.append("| training exact at 25 / 50 / 75 / 100% of steps | " + " | ".join(cells)
                    + " |")
    for bucket, info in results["buckets"].items():
        rows.append(f"| **{bucket}** ({info['count']} puzzles) | " + " | " * len(names))
        for key, label in [*((f"exact_{s}", f"{s} segments") for s in SEGMENTS),
                           ("adaptive", "adaptive (mean segments)"),
                           ("attempts", f"within {ATTEMPTS} attempts"),
                           ("solve_per_s", "solve puzzles/s")]:
            cells = []
            for name in names:
                value = results["models"][name].get("eval", {}).get(bucket, {}).get(key)
                if value is None:
                    cells.append("-")
                elif key == "solve_per_s":
                    cells.append(f"{value:.1f}")
                elif key == "adaptive":
                    segments = results["models"][name]["eval"][bucket]["adaptive_segments"]
                    cells.append(f"{value:.1%} ({segments:.1f})")
                else:
                    cells.append(f"{value:.1%}")
            rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("task", choices=sorted(BUCKETS))
    parser.add_argument("models", nargs="+", metavar="ARCH:PRESET")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--pflop", type=float, required=True,
                        help="training FLOPs per model, in units of 1e15")
    parser.add_argument("--batch", type=int, default=64, help="global batch, for every model")
    parser.add_argument("--lr", type=float, default=7e-4, help="peak learning rate, for all")
    parser.add_argument("--lr-min-ratio", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--held-out", type=int, default=200, help="puzzles per bucket")
    parser.add_argument("--train-count", type=int, default=None,
                        help="training puzzles to generate [sudoku 10,000; maze 20,000]")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--time-limit", default=None,
                        help="per training call (e.g. 2h): run again to continue")
    args = parser.parse_args()
    specs = [Spec(*item.split(":", 1)) for item in args.models]
    args.work.mkdir(parents=True, exist_ok=True)
    notes = prepare_data(args.task, args.work, args.held_out, args.train_count)
    path = args.work / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {"models": {}}
    results.update(task=args.task, pflop=args.pflop, batch=args.batch, lr=args.lr,
                   lr_min_ratio=args.lr_min_ratio, weight_decay=args.weight_decay,
                   buckets=notes["buckets"], train=notes["train"])
    for spec in specs:
        entry = results["models"].setdefault(spec.name, {})
        entry.update(plan_steps(args.task, spec, args.work / "data", args.batch, args.pflop))
        entry.update(train(args.task, spec, args.work, entry, args))
        entry["samples_per_s"] = training_rate(args.work, spec)
        entry["curve"] = training_curve(args.work, spec, entry["steps"])
        entry["eval"] = evaluate(spec, args.work, notes, args.device)
        path.write_text(json.dumps(results, indent=1))
        (args.work / "results.md").write_text(table(args.task, results))
    print(table(args.task, results))


if __name__ == "__main__":
    main()
