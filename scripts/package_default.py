"""Copy a trained run's model into the package as a task's shipped default.

Maintainer tool, not part of `hrm`: the shipped model's config.json must say what it was
trained on and how well it does, so this adds to the run's own provenance (recipe, steps,
wall time, device) a description of the training data and the held-out evaluations, each
an `hrm eval --format json` report.

    python scripts/package_default.py RUN_DIR sudoku --data-notes data-notes.json \\
        --eval rating-0=eval-r0.json --eval rating-1-9=eval-r1.json

`--metrics NAME=FILE` keeps any other JSON table of results (for example a maze model's
accuracy by maze size) as `metrics.NAME`.

`--data-notes` is a JSON object written by hand: the generator commands, seeds, rating
ranges, counts and augmentations of the training and test data (its `description`, if any,
becomes the model's one-line description in `hrm models list`). The bundle is written to
model/defaults/TASK/ (or --defaults-dir) through a temporary folder renamed into place.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from hrm.datasets.task_table import TASK_NAMES

ROOT = Path(__file__).resolve().parents[1]
BUNDLE_FILES = ("config.json", "model.safetensors")
SIZE_LIMIT = 30 * 2**20
KEPT_EVAL_FIELDS = ("data", "dtype", "split", "examples", "max_segments", "exact_accuracy",
                    "token_accuracy", "adaptive", "by_segments", "attempts")


def named_documents(option: str, specs: list[str]) -> dict[str, object]:
    """{name: the JSON document} for each NAME=FILE given to `option`."""
    documents = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name:
            sys.exit(f"{option} {spec!r}: expected NAME=FILE")
        try:
            documents[name] = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            sys.exit(f"{option} {spec!r}: {error}")
    return documents


def held_out_metrics(evals: list[str]) -> dict[str, dict]:
    """{name: the report's accuracy fields} for each NAME=FILE of an `hrm eval` report."""
    return {name: {key: report[key] for key in KEPT_EVAL_FIELDS if key in report}
            for name, report in named_documents("--eval", evals).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a finished `hrm train` run folder, or its "
                        "model/ bundle")
    parser.add_argument("task", choices=list(TASK_NAMES))
    parser.add_argument("--data-notes", type=Path, required=True,
                        help="JSON describing the training and test data (commands, seeds)")
    parser.add_argument("--eval", action="append", default=[], metavar="NAME=FILE",
                        help="an `hrm eval --format json` report on held-out puzzles")
    parser.add_argument("--metrics", action="append", default=[], metavar="NAME=FILE",
                        help="another JSON table of held-out results, kept as metrics.NAME")
    parser.add_argument("--dtype", choices=["auto", "float32", "bfloat16"],
                        help="the activation dtype to ship (the run's own by default)")
    parser.add_argument("--max-segments", type=int,
                        help="the segment budget `hrm solve` uses by default (the model's "
                             "halt_max_steps), when held-out accuracy keeps rising past the "
                             "trained maximum")
    parser.add_argument("--attempts", type=int,
                        help="the attempts `hrm solve` makes by default (retries on symmetric "
                             "copies of puzzles whose answers break the rules), when held-out "
                             "results show they pay")
    parser.add_argument("--defaults-dir", type=Path, default=ROOT / "model" / "defaults",
                        help="where the task folders of shipped models live")
    args = parser.parse_args()
    if not args.eval:
        sys.exit("give at least one --eval: a shipped model must say how well it does")

    bundle = args.run / "model" if (args.run / "model").is_dir() else args.run
    config = json.loads((bundle / "config.json").read_text(encoding="utf-8"))
    if config.get("task", {}).get("name") != args.task:
        sys.exit(f"{bundle}: a {config.get('task', {}).get('name')} model, not {args.task}")
    if args.dtype:
        config["architecture"]["forward_dtype"] = args.dtype
    if args.max_segments:
        trained = config["architecture"]["halt_max_steps"]
        config["architecture"]["halt_max_steps"] = args.max_segments
        config["provenance"]["trained_halt_max_steps"] = trained
    if args.attempts:
        config["task"]["attempts"] = args.attempts
    notes = json.loads(args.data_notes.read_text(encoding="utf-8"))
    config["provenance"]["training_data"] = notes
    config["provenance"]["description"] = notes.get("description", config["provenance"].get(
        "description", "trained with hrm train"))
    config["metrics"] = {"final_eval": config.get("metrics"),
                         "held_out": held_out_metrics(args.eval)}
    for name, table in named_documents("--metrics", args.metrics).items():
        if name in config["metrics"]:
            sys.exit(f"--metrics {name}=...: that name is taken")
        config["metrics"][name] = table

    target = args.defaults_dir / args.task
    staging = target.with_name(f".{args.task}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copy2(bundle / "model.safetensors", staging / "model.safetensors")
    (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    size = sum((staging / name).stat().st_size for name in BUNDLE_FILES)
    if size > SIZE_LIMIT:
        shutil.rmtree(staging)
        sys.exit(f"the bundle is {size / 2**20:.1f} MB, over the 30 MB limit for package data")
    if target.exists():  # keep the old one until the new one is complete
        old = target.with_name(f".{args.task}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old)
    else:
        staging.rename(target)
    print(f"{target} ({size / 2**20:.1f} MB)")


if __name__ == "__main__":
    main()
