"""`hrm train`: parse options, call `hrm.train`, show progress and results.

The knobs (recipe, model, run settings) are options made from the config dataclasses by
`hrm_cli.knobs`; the options written here are the command's own (what to train on, where
the run lives, how to launch it).
"""

from __future__ import annotations

import re
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hrm.model.config import CONFIGS, DEFAULT_ARCHITECTURE
from hrm_cli.completion import model_names
from hrm_cli.console import progress_bar, stderr_console
from hrm_cli.errors import EXIT_INTERRUPTED, EXIT_UNSOLVED
from hrm_cli.knobs import (
    KNOBS,
    PRESETS,
    SectionOption,
    flag_of,
    knob_options,
    knob_values,
    preset_default,
)
from hrm_cli.options import TaskChoice, device_option, quiet_option
from hrm_cli.train_help import TrainCommand, help_all_option
from hrm_cli.train_progress import ProgressReporter

if TYPE_CHECKING:
    from hrm.train.config import TrainConfig
    from hrm.train.loop import TrainOutcome

LAUNCH_OPTIONS = ("gpus", "nproc", "nnodes", "node_rank", "rdzv_endpoint")
# Not knobs, but they define the model like one: fixed once a run exists.
MODEL_CHOICES = ("arch", "preset")


class Duration(click.ParamType):
    """Seconds, from `600`, `600s`, `10m`, `1h30m` or `2.5h`."""

    name = "duration"
    _PATTERN = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?")

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        match = self._PATTERN.fullmatch(value.strip().lower())
        seconds = 0.0
        if match and any(match.groups()):
            hours, minutes, secs = (float(part or 0) for part in match.groups())
            seconds = hours * 3600 + minutes * 60 + secs
        if seconds <= 0:
            self.fail(f"{value!r} is not a duration above zero (like 600, 45s, 9m, 1h30m)",
                      param, ctx)
        return seconds


POSITIVE = click.IntRange(min=1)


def _launch_option(*names: str, **kwargs: Any) -> Any:
    return click.option(*names, cls=SectionOption, section="launch", metavar="N", **kwargs)


@click.command(
    cls=TrainCommand,
    epilog="""\b
Examples:
  hrm train sudoku                   # Sudoku-Extreme-1k, fetched and built on first use
  hrm train maze --gpus 4            # Maze-Hard on 4 GPUs
  hrm train sudoku --data data/demo --preset tiny --steps 200 --nproc 2 --device cpu
  hrm train sudoku --data data/my-sudoku --init-from default:sudoku --lr 3e-4   # fine-tune
  hrm train --resume runs/sudoku-20250101-120000 --time-limit 3h50m   # in a 4-hour job
""",
)
@click.argument("task", type=TaskChoice(), required=False)
@click.option("--data", type=click.Path(file_okay=False), metavar="DIR", cls=SectionOption,
              default_text="TASK's standard one",
              help="Built dataset (`hrm datasets build`).")
@click.option("--out", "-o", type=click.Path(file_okay=False), metavar="DIR",
              cls=SectionOption, default_text="runs/<task>-<date>-<time>",
              help="Run folder.")
@click.option("--resume", type=click.Path(file_okay=False), metavar="RUN_DIR",
              help="Continue the run in RUN_DIR from its last checkpoint.")
@click.option("--init-from", metavar="MODEL", shell_complete=model_names,
              help="Start from MODEL's weights and architecture (default:TASK, a name, a "
                   "bundle, a run folder, a release checkpoint) with this run's recipe.")
@click.option("--arch", type=click.Choice(list(CONFIGS)), cls=SectionOption,
              default_text=DEFAULT_ARCHITECTURE,
              help="hrm (as released), grid-hrm (any grid size), trm or trm-mlp (Tiny "
                   "Recursive Models, with their own recipe).")
@click.option("--preset", type=click.Choice(PRESETS), cls=SectionOption,
              default_text=preset_default(),
              help="Model size: paper (HRM 27M, TRM 7M), small (HRM 3M), tiny (tests).")
@knob_options("recipe")
@knob_options("model")
@knob_options("run")
@device_option
@quiet_option("No progress output.")
@click.option("--time-limit", type=Duration(), metavar="DURATION",
              help="Stop after the step during which this much time (600, 9m, 3h50m) has "
                   "passed, write a checkpoint and exit 3; --resume continues.")
@_launch_option("--gpus", type=POSITIVE, help="Start this many GPU workers on this node (NCCL).")
@_launch_option("--nproc", type=POSITIVE,
                help="Start this many workers on this node (with --device cpu: gloo).")
@_launch_option("--nnodes", type=POSITIVE, default=1, default_text="1",
                help="Machines taking part (run the same command on each).")
@_launch_option("--node-rank", type=click.IntRange(min=0),
                help="This machine's rank (static rendezvous); omit to let nodes meet.")
@click.option("--rdzv-endpoint", metavar="HOST:PORT", cls=SectionOption, section="launch",
                help="Rendezvous address (node 0), needed with --nnodes > 1.")
@help_all_option
@click.pass_context
def train(ctx: click.Context, task: str | None, data: str | None, out: str | None,
          resume: str | None, init_from: str | None, **options: Any) -> None:
    """Train a model on a built dataset, with the paper's recipe for TASK.

    Without --data, TASK's standard dataset (fetched and built on first use). Defaults
    follow the paper's release for the task and architecture; Ctrl-C writes a checkpoint.
    """
    started = time.time()
    given = {name for name in options
             if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    if resume:
        if init_from is not None:
            raise click.UsageError("--init-from starts a new run; a resumed run continues "
                                   "from its checkpoint")
        config = _resumed_config(task, data, out, resume, options, given)
    else:
        if task is None:
            raise click.UsageError("give TASK (with --data DIR, or none for the task's "
                                   "standard dataset), or --resume RUN_DIR")
        config = _new_config(task, data, out, options, init_from, given)
    time_limit = options.pop("time_limit")
    deadline = started + time_limit if time_limit else None
    outcome = _run(config, bool(resume), options, given, deadline)
    if outcome is None:
        _interrupted_message(config.out, None)
        ctx.exit(EXIT_INTERRUPTED)
    _finish(ctx, outcome, config.quiet)


def _run(config: TrainConfig, resume: bool, options: dict[str, Any],
         given: set[str], deadline: float | None) -> TrainOutcome | None:
    """Train in this process (alone or as a torchrun rank) or through our launcher.
    None: the launched workers were interrupted before reporting back."""
    from hrm.train.distributed import LaunchSpec, World, launch, resolve_device
    from hrm.train.logs import check_loggers
    from hrm.train.loop import launched_worker, train

    external = World.from_env()
    if external is not None and any(n in given for n in LAUNCH_OPTIONS):
        raise click.UsageError("this process was started by torchrun: drop --gpus/--nproc/"
                               "--nnodes/--node-rank/--rdzv-endpoint")
    nproc = options["gpus"] or options["nproc"] or 1
    if options["gpus"]:
        _require_gpus(options["gpus"], config.device)
        config.device = "cuda"
    launched = external is None and (nproc > 1 or options["nnodes"] > 1)
    if launched:  # every worker gets the same device kind, resolved here
        world = World(0, nproc * options["nnodes"], 0, nproc)
        config.device = resolve_device(config.device, world).type
    elif external is None:
        resolve_device(config.device)  # fail here with one line
    check_loggers(config.wandb, config.tensorboard)

    reporter = None if config.quiet else ProgressReporter()
    if not launched:
        return train(config, resume=resume, reporter=reporter, deadline=deadline)
    spec = LaunchSpec(nproc_per_node=nproc, nnodes=options["nnodes"],
                      node_rank=options["node_rank"], rdzv_endpoint=options["rdzv_endpoint"])
    try:
        outcomes = launch(launched_worker, (config, resume, reporter, deadline), spec)
    except KeyboardInterrupt:
        return None
    return _merge_outcomes(outcomes)


def _require_gpus(gpus: int, device: str) -> None:
    from hrm.train.distributed import require_cuda

    if device not in ("auto", "cuda"):
        raise click.UsageError(f"--gpus runs CUDA workers, not --device {device}; "
                               "for CPU workers use --nproc N --device cpu")
    require_cuda(f"--gpus {gpus}", gpus)


def _standard_dataset(task: str, options: dict[str, Any]) -> Path:
    """TASK's standard dataset, once the devices asked for are known to be here: a
    machine that cannot train should not download first."""
    from hrm.train.distributed import World, resolve_device
    from hrm.train.standard_data import standard_dataset

    device = options["device"]
    if options["gpus"]:
        _require_gpus(options["gpus"], device)
    else:
        resolve_device(device)
    # Under torchrun every rank gets here; rank 0 speaks, the others wait on its build.
    quiet = options["quiet"] or not (World.from_env() or World()).is_main

    def say(text: str) -> None:
        if not quiet:
            stderr_console().print(text, highlight=False, markup=False, soft_wrap=True)

    bar = _LazyBar(quiet)
    try:
        return standard_dataset(task, say=say, quiet=quiet, build_progress=bar.update)
    finally:
        bar.close()


class _LazyBar:
    """A build progress bar that starts on its first update: downloads draw their own bars
    before it, and rich shows one live display at a time."""

    def __init__(self, quiet: bool) -> None:
        self._quiet = quiet
        self._stack = ExitStack()
        self._progress: Any = None
        self._task: Any = None

    def update(self, done: int, total: int | None) -> None:
        if self._progress is None:
            self._progress = self._stack.enter_context(progress_bar(self._quiet))
            self._task = self._progress.add_task("building", total=total)
        self._progress.update(self._task, completed=done, total=total)

    def close(self) -> None:
        self._stack.close()
        self._progress = None


def _run_settings(options: dict[str, Any], names: set[str] | None = None) -> dict[str, Any]:
    """The TrainConfig fields the options set: the run knobs, --device and --quiet."""
    settings = knob_values(options, "run", names)
    for name in ("device", "quiet"):
        if names is None or name in names:
            settings[name] = options[name]
    return settings


def _new_config(task: str, data: str | None, out: str | None, options: dict[str, Any],
                init_from: str | None, given: set[str]) -> TrainConfig:
    from hrm.train.config import build_config
    from hrm.train.distributed import World
    from hrm.train.loop import check_new_run_dir
    from hrm.train.warm_start import TRAINING_CHOICES

    if init_from is not None:
        fixed = sorted(flag_of(name) for name in given if name in MODEL_CHOICES or (
            name in KNOBS and KNOBS[name].section == "model"
            and KNOBS[name].field not in TRAINING_CHOICES))
        if fixed:
            raise click.UsageError(f"{', '.join(fixed)} cannot be given with --init-from: the "
                                   f"architecture is {init_from}'s")

    architecture = knob_values(options, "model")
    if options["arch"] in ("trm", "trm-mlp") and "H_layers" in architecture:
        raise click.UsageError("--h-layers: TRM has one network; size it with --l-layers")
    if options["arch"] is not None:
        architecture["name"] = options["arch"]
    run_dir = Path(out) if out else Path("runs") / f"{task}-{time.strftime('%Y%m%d-%H%M%S')}"
    # Under torchrun, or on several nodes, rank 0 checks and creates it (other nodes may
    # share the file system and see it already).
    if (World.from_env() or World()).is_main and options["nnodes"] == 1:
        check_new_run_dir(run_dir)
    if data is None:
        data = str(_standard_dataset(task, options))
    config = build_config(task, data, run_dir, preset=options["preset"],
                          architecture=architecture, init_from=init_from,
                          **_run_settings(options))
    # The recipe is the architecture's (known only now for --init-from), then the options.
    config.recipe = config.recipe.with_overrides(**knob_values(options, "recipe"))
    return config


def _resumed_config(task: str | None, data: str | None, out: str | None, resume: str,
                    options: dict[str, Any], given: set[str]) -> TrainConfig:
    from dataclasses import replace

    from hrm.train.config import RESUME_FIELDS, RESUME_RECIPE_FIELDS, read_run_config
    from hrm.train.errors import TrainingError
    from hrm.train.recipes import check_task

    config, _ = read_run_config(resume)
    if task is not None and task != config.task:
        raise TrainingError(f"{resume}: this run trains {config.task}, not {task}")
    if out is not None:
        raise click.UsageError("--out and --resume exclude each other: the run stays in "
                               "its folder")
    may_change = {"recipe": RESUME_RECIPE_FIELDS, "run": RESUME_FIELDS, "model": ()}
    fixed = sorted(flag_of(name) for name in given if name in MODEL_CHOICES or (
        name in KNOBS and KNOBS[name].field not in may_change[KNOBS[name].section]))
    if fixed:
        raise click.UsageError(f"{', '.join(fixed)} cannot change when resuming a run (they "
                               "define it); start a new run instead")
    recipe = config.recipe.with_overrides(**knob_values(options, "recipe", given))
    changes = _run_settings(options, given)
    changes.setdefault("quiet", False)  # a session's own choice, not the run's
    config = replace(config, recipe=recipe, **changes)
    if data is not None:
        from hrm.datasets.format import load_split

        folder = Path(data).resolve()
        check_task(config.task, load_split(folder, "train").metadata, folder)
        config.data = str(folder)
    elif not Path(config.data).is_dir():
        raise TrainingError(f"{config.data}: the run's dataset is gone; point --data at it")
    return config


def _merge_outcomes(outcomes: dict[int, TrainOutcome]) -> TrainOutcome:
    """One outcome for the launched workers: the first error, else rank 0's (or ours)."""
    ranked = [outcomes[rank] for rank in sorted(outcomes)]
    for outcome in ranked:
        if outcome.status == "error":
            from hrm.train.errors import TrainingError

            raise TrainingError(outcome.message)
    interrupted = [o for o in ranked if o.status == "interrupted"]
    return interrupted[0] if interrupted else ranked[0]


# A run stopped at --time-limit is unfinished work, like unsolved puzzles: exit 3.
_EXIT_CODES = {"interrupted": EXIT_INTERRUPTED, "paused": EXIT_UNSOLVED}


def _finish(ctx: click.Context, outcome: TrainOutcome, quiet: bool) -> None:
    from hrm.train.distributed import World

    external = World.from_env()
    if external is not None and not external.is_main:
        ctx.exit(_EXIT_CODES.get(outcome.status, 0))
    if outcome.status == "interrupted":
        _interrupted_message(outcome.run_dir, outcome.step)
        ctx.exit(EXIT_INTERRUPTED)
    if outcome.status == "paused":
        click.echo(f"Time limit reached at step {outcome.step} of {outcome.total_steps}; "
                   f"checkpoint written; continue with: hrm train --resume {outcome.run_dir}",
                   err=True)
        ctx.exit(EXIT_UNSOLVED)
    if not quiet:
        final = outcome.final_eval or {}
        summary = f"finished {outcome.step} steps"
        if "exact_accuracy" in final:
            summary += f"; test exact accuracy {final['exact_accuracy']:.1%}"
        stderr_console().print(f"{summary}; model bundle in {Path(outcome.run_dir) / 'model'}",
                               highlight=False, soft_wrap=True)
    click.echo(outcome.run_dir)  # stdout: the run folder, for scripts


def _interrupted_message(run_dir: str, step: int | None) -> None:
    where = f"at step {step} " if step is not None else ""
    click.echo(f"Interrupted {where}with a checkpoint; continue with: hrm train --resume "
               f"{run_dir}", err=True)


__all__ = ["train"]
