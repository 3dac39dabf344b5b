"""What `hrm train` shows on stderr while it trains: a bar on a terminal, lines otherwise."""

from __future__ import annotations

import time
from typing import Any

from hrm_cli.console import stderr_console


class ProgressReporter:
    """Rank 0's progress: a rich bar on a terminal, else a plain line every few seconds.

    Created in the CLI process and pickled into launched workers, so the console is only
    made in `start`.
    """

    PLAIN_EVERY_S = 5.0

    def __init__(self) -> None:
        self._progress: Any = None
        self._task: Any = None
        self._console: Any = None
        self._last_plain = 0.0
        self._total = 0
        self._fields = {"epoch": 0.0, "loss": None, "exact": None, "segments": None,
                        "speed": None}

    def start(self, info: dict[str, Any]) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._console = stderr_console()
        self._total = info["total_steps"]
        params = info["parameters"] / 1e6
        self._print(f"training {info['task']}: {params:.2f}M parameters on {info['device']}"
                    f" x {info['world_size']}, global batch {info['global_batch_size']}, "
                    f"{info['steps_per_epoch']:.1f} steps/epoch, steps {info['step']} -> "
                    f"{info['total_steps']}; run folder {info['run_dir']}")
        if self._console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]train"), BarColumn(bar_width=24), MofNCompleteColumn(),
                TextColumn("{task.description}"), TimeRemainingColumn(),
                console=self._console, transient=True, redirect_stdout=False)
            self._progress.start()
            self._task = self._progress.add_task(self._describe(), total=self._total,
                                                 completed=info["step"])

    def log(self, record: dict[str, Any]) -> None:
        fields = self._fields
        fields["epoch"] = record["epoch"]
        fields["loss"] = record["loss"]
        fields["speed"] = record["samples_per_s"]
        if record["exact_accuracy"] is not None:  # None: nothing halted in this window
            fields["exact"] = record["exact_accuracy"]
            fields["segments"] = record["mean_segments"]
        if self._progress is not None:
            self._progress.update(self._task, completed=record["step"],
                                  description=self._describe())
            return
        now = time.monotonic()
        if now - self._last_plain >= self.PLAIN_EVERY_S or record["step"] >= self._total:
            self._last_plain = now
            self._print(f"step {record['step']}/{self._total} {self._describe()}")

    def evaluation(self, record: dict[str, Any]) -> None:
        text = (f"eval at step {record['step']}: exact {record['exact_accuracy']:.1%} "
                f"(token {record['token_accuracy']:.1%}, {record['max_segments']} segments); "
                f"adaptive {record['adaptive']['exact_accuracy']:.1%} in "
                f"{record['adaptive']['mean_segments']:.1f} segments")
        for name, votes in variant_votes(record):
            text += f"; {name.upper()} pass@1 {votes['pass@1']:.1%}, pass@2 {votes['pass@2']:.1%}"
        self._print(text)

    def message(self, text: str) -> None:
        self._print(text)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _describe(self) -> str:
        f = self._fields

        def fmt(value: Any, spec: str) -> str:
            return "-" if value is None else format(value, spec)

        return (f"epoch {f['epoch']:.1f} loss {fmt(f['loss'], '.3f')} "
                f"exact {fmt(f['exact'], '.1%')} segs {fmt(f['segments'], '.1f')} "
                f"{fmt(f['speed'], '.0f')} samples/s")

    def _print(self, text: str) -> None:
        console = self._progress.console if self._progress is not None else self._console
        if console is None:
            console = self._console = stderr_console()
        console.print(text, highlight=False, markup=False, soft_wrap=True)


__all__ = ["ProgressReporter"]


def variant_votes(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The pass@k of tasks that vote over variants (ARC), which evaluation reports under the
    task's name."""
    return [(name, value) for name, value in record.items()
            if isinstance(value, dict) and "pass@1" in value]
