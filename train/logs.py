"""What rank 0 writes while training: metrics.jsonl, evals.jsonl, W&B and TensorBoard.

`metrics.jsonl` has one JSON object per logged step, `evals.jsonl` one per evaluation. On
resume, lines from steps after the checkpoint (written before the interruption, and about
to be computed again) are dropped, so each file reads as one uninterrupted run.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from pathlib import Path
from typing import Any

from hrm.train.errors import TrainingError

METRICS_NAME = "metrics.jsonl"
EVALS_NAME = "evals.jsonl"
WANDB_ID_NAME = "wandb-id.txt"


def check_loggers(wandb: bool, tensorboard: bool) -> None:
    """TrainingError naming the missing package for a logger that cannot run here."""
    if wandb and importlib.util.find_spec("wandb") is None:
        raise TrainingError("--wandb needs the wandb package, which is not installed here "
                            "(pip install wandb); metrics.jsonl is written either way")
    if tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise TrainingError("--tensorboard needs the tensorboard package, which is not "
                            "installed here (pip install tensorboard); metrics.jsonl is "
                            "written either way")


def truncate_jsonl(path: Path, last_step: int) -> None:
    """Keep only the records of `path` with step <= last_step (atomically)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= last_step:
                kept.append(line)
        except (json.JSONDecodeError, AttributeError):
            continue  # a line cut short by a crash
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
    os.replace(tmp, path)


class RunLogs:
    """The run folder's logs plus the optional W&B and TensorBoard loggers."""

    def __init__(self, run_dir: Path, *, config: dict[str, Any], resume_step: int | None,
                 wandb: bool = False, tensorboard: bool = False):
        self.run_dir = run_dir
        if resume_step is not None:
            truncate_jsonl(run_dir / METRICS_NAME, resume_step)
            truncate_jsonl(run_dir / EVALS_NAME, resume_step)
        self._metrics = open(run_dir / METRICS_NAME, "a", encoding="utf-8")  # noqa: SIM115
        self._evals = open(run_dir / EVALS_NAME, "a", encoding="utf-8")  # noqa: SIM115
        self._wandb: Any = None
        self._tensorboard: Any = None
        check_loggers(wandb, tensorboard)
        if wandb:
            self._wandb = _start_wandb(run_dir, config)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = None if resume_step is None else resume_step + 1
            self._tensorboard = SummaryWriter(str(run_dir / "tensorboard"), purge_step=purge)

    def metrics(self, record: dict[str, Any]) -> None:
        _write_line(self._metrics, record)
        self._external("train", record)

    def evaluation(self, record: dict[str, Any]) -> None:
        _write_line(self._evals, record)
        flat = {k: v for k, v in record.items() if isinstance(v, (int, float))}
        # adaptive halting, and the pass@k of tasks that vote over variants (under their name)
        for group, values in record.items():
            if isinstance(values, dict) and group != "by_segments":
                for key, value in values.items():
                    flat[f"{group}/{key}"] = value
        for budget, values in (record.get("by_segments") or {}).items():
            flat[f"segments_{budget}/exact_accuracy"] = values["exact_accuracy"]
        self._external("eval", flat)

    def _external(self, prefix: str, record: dict[str, Any]) -> None:
        step = int(record["step"])
        scalars = {f"{prefix}/{k}": v for k, v in record.items()
                   if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}
        if self._wandb is not None:
            self._wandb.log(scalars, step=step)
        if self._tensorboard is not None:
            for key, value in scalars.items():
                self._tensorboard.add_scalar(key, value, step)

    def close(self) -> None:
        self._metrics.close()
        self._evals.close()
        if self._wandb is not None:
            self._wandb.finish()
        if self._tensorboard is not None:
            self._tensorboard.close()


def _write_line(handle: Any, record: dict[str, Any]) -> None:
    handle.write(json.dumps(_finite(record), allow_nan=False) + "\n")
    handle.flush()


def _finite(value: Any) -> Any:
    """NaN and infinities (a diverged loss) become null: JSON has no spelling for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _start_wandb(run_dir: Path, config: dict[str, Any]) -> Any:
    import wandb

    # One W&B run per run folder: a resumed session continues the same W&B run.
    id_file = run_dir / WANDB_ID_NAME
    run_id = id_file.read_text().strip() if id_file.is_file() else wandb.util.generate_id()
    id_file.write_text(run_id + "\n")
    return wandb.init(project=f"hrm-{config['task']}", name=run_dir.name, id=run_id,
                      resume="allow", dir=str(run_dir), config=config)
