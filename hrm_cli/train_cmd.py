"""`hrm train` and `hrm eval`: parse options, call `hrm.train`, show progress and results."""

from __future__ import annotations

import json
import re
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hrm_cli.completion import model_names
from hrm_cli.console import progress_bar, stderr_console, stdout_console
from hrm_cli.errors import EXIT_INTERRUPTED, EXIT_UNSOLVED

if TYPE_CHECKING:
    from hrm.train.config import TrainConfig
    from hrm.train.loop import TrainOutcome

from hrm_cli.options import DTYPES, GRADIENTS, HALTINGS, TaskChoice

PRESETS = ("paper", "small", "tiny")
# hrm.model.architectures lists them; importing it here would import torch.
ARCHITECTURES = ("hrm", "grid-hrm", "trm", "trm-mlp")

# option name -> Recipe field (None values mean "the task's recipe")
RECIPE_OPTIONS = {
    "batch_size": "global_batch_size", "lr": "lr", "lr_min_ratio": "lr_min_ratio",
    "warmup_steps": "warmup_steps", "weight_decay": "weight_decay", "beta1": "beta1",
    "beta2": "beta2", "puzzle_emb_lr": "puzzle_emb_lr",
    "puzzle_emb_weight_decay": "puzzle_emb_weight_decay", "epochs": "epochs",
    "eval_interval": "eval_interval", "loss_type": "loss_type", "ema": "ema",
}
# option name -> HRMConfig field
MODEL_OPTIONS = {
    "hidden_size": "hidden_size", "num_heads": "num_heads", "expansion": "expansion",
    "h_layers": "H_layers", "l_layers": "L_layers", "h_cycles": "H_cycles",
    "l_cycles": "L_cycles", "puzzle_emb_ndim": "puzzle_emb_ndim",
    "pos_encodings": "pos_encodings", "halt_max_steps": "halt_max_steps",
    "halt_exploration_prob": "halt_exploration_prob", "dtype": "forward_dtype",
    "gradient": "gradient", "halting": "halting",
}
# option name -> TrainConfig field
RUN_OPTIONS = {
    "steps": "steps", "checkpoint_interval": "checkpoint_interval",
    "log_interval": "log_interval", "eval_batch_size": "eval_batch_size", "seed": "seed",
    "device": "device", "compile": "compile", "wandb": "wandb", "tensorboard": "tensorboard",
    "quiet": "quiet",
}
LAUNCH_OPTIONS = ("gpus", "nproc", "nnodes", "node_rank", "rdzv_endpoint")



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
NON_NEGATIVE = click.IntRange(min=0)
PROBABILITY = click.FloatRange(0.0, 1.0)


def _options(*decorators):
    def apply(function):
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


_recipe_options = _options(
    click.option("--batch-size", type=POSITIVE,
                 help="Global batch, split across processes [recipe: 768]."),
    click.option("--lr", type=click.FloatRange(min=0), help="Peak learning rate [1e-4]."),
    click.option("--lr-min-ratio", type=click.FloatRange(0, 1),
                 help="Final rate / peak of the cosine decay; 1 = constant [1.0]."),
    click.option("--warmup-steps", type=NON_NEGATIVE, help="Linear warm-up steps [2000]."),
    click.option("--weight-decay", type=click.FloatRange(min=0),
                 help="AdamATan2 weight decay [sudoku/maze 1.0, arc 0.1]."),
    click.option("--beta1", type=click.FloatRange(0, 1, max_open=True),
                 help="AdamATan2 first-moment decay [0.9]."),
    click.option("--beta2", type=click.FloatRange(0, 1, max_open=True),
                 help="AdamATan2 second-moment decay [0.95]."),
    click.option("--puzzle-emb-lr", type=click.FloatRange(min=0),
                 help="Sign-SGD rate of the puzzle embeddings [sudoku/maze 1e-4, arc 1e-2]."),
    click.option("--puzzle-emb-weight-decay", type=click.FloatRange(min=0),
                 help="Their weight decay [sudoku/maze 1.0, arc 0.1]."),
    click.option("--epochs", type=POSITIVE,
                 help="Epochs to train [sudoku/maze 20000, arc 100000]."),
    click.option("--steps", type=POSITIVE,
                 help="Total optimizer steps (overrides --epochs for the length and schedule)."),
    click.option("--eval-interval", type=NON_NEGATIVE,
                 help="Epochs between evaluations of the test split; 0 = only at the end "
                      "[sudoku/maze 2000, arc 10000]."),
    click.option("--checkpoint-interval", type=NON_NEGATIVE,
                 help="Steps between checkpoints, besides those after evaluations, at the "
                      "end and on Ctrl-C; 0 = none [1000]."),
    click.option("--log-interval", type=POSITIVE, help="Steps per metrics.jsonl line [10]."),
    click.option("--eval-batch-size", type=POSITIVE,
                 help="Global evaluation batch [the training batch]."),
    click.option("--ema", type=click.FloatRange(0, 1, max_open=True), metavar="DECAY",
                 help="Evaluate and export a moving average of the weights with this decay; "
                      "0 = none [hrm 0; trm, trm-mlp 0.999, as their papers]."),
    click.option("--loss-type",
                 type=click.Choice(["stablemax_cross_entropy", "softmax_cross_entropy"]),
                 help="Token loss [stablemax_cross_entropy]."),
)

_model_options = _options(
    click.option("--arch", type=click.Choice(ARCHITECTURES),
                 help="Architecture: hrm (as released), grid-hrm (3x3 grid mixing, any "
                      "grid size), trm (Tiny Recursive Model: one 2-layer attention network), "
                      "trm-mlp (TRM mixing positions with an MLP; the paper's Sudoku model). "
                      "TRM trains by its own recipe: EMA 0.999, 50000 epochs for sudoku/maze "
                      "[hrm]."),
    click.option("--preset", type=click.Choice(PRESETS),
                 help="Model size: paper (HRM 27M, TRM 7M), small (HRM ~3M, TRM ~1.7M), "
                      "tiny (tests) [paper]."),
    click.option("--hidden-size", type=POSITIVE, help="Width of both levels."),
    click.option("--num-heads", type=POSITIVE, help="Attention heads."),
    click.option("--expansion", type=click.FloatRange(min=0, min_open=True),
                 help="SwiGLU expansion."),
    click.option("--h-layers", type=POSITIVE, help="Blocks of the slow module H."),
    click.option("--l-layers", type=POSITIVE,
                 help="Blocks of the fast module L (TRM: of its one network)."),
    click.option("--h-cycles", type=POSITIVE, help="H updates per segment (TRM: T, recursions)."),
    click.option("--l-cycles", type=POSITIVE,
                 help="L updates per H update (TRM: n, latent updates)."),
    click.option("--puzzle-emb-ndim", type=NON_NEGATIVE,
                 help="Puzzle-embedding width; 0 disables it."),
    click.option("--pos-encodings", type=click.Choice(["rope", "learned"]),
                 help="Rotary (nothing stored) or a learned table per position [rope]."),
    click.option("--gradient", type=click.Choice(GRADIENTS),
                 help="Updates of a segment to backpropagate: the final L and H ones "
                 "(one-step, the paper's), the last H cycle (last-cycle, as TRM) or all "
                 "(full; more compute per step) [hrm one-step; trm last-cycle]."),
    click.option("--halt-max-steps", type=POSITIVE, help="ACT: most segments per puzzle [16]."),
    click.option("--halt-exploration-prob", type=PROBABILITY,
                 help="ACT: exploration probability [0.1]."),
    click.option("--halting", type=click.Choice(HALTINGS),
                 help="ACT: how the Q head learns to stop: q-learning (the paper's; an "
                      "extra forward per step for the continue target) or halt-only "
                      "(TRM's: stop once sigmoid(q_halt) > 0.5; a quarter fewer FLOPs per "
                      "step with --gradient full) [hrm q-learning; trm halt-only]."),
    click.option("--dtype", type=click.Choice(DTYPES),
                 help="Activation dtype [auto: bfloat16 on GPUs, float32 on the CPU]. "
                      "bfloat16 also pays on CPUs with AMX (Sapphire Rapids and later)."),
)

_runtime_options = _options(
    click.option("--seed", type=int, help="Random seed [0]."),
    click.option("--device", default=None,
                 help="auto, cpu, cuda, cuda:N or mps [auto: CUDA, then MPS, then CPU]."),
    click.option("--compile", "compile_", is_flag=True, default=None,
                 help="torch.compile the segment computation."),
    click.option("--gpus", type=POSITIVE,
                 help="Start this many GPU workers on this node (NCCL)."),
    click.option("--nproc", type=POSITIVE,
                 help="Start this many workers on this node (with --device cpu: gloo)."),
    click.option("--nnodes", type=POSITIVE, default=1, show_default=True,
                 help="Machines taking part (run the same command on each)."),
    click.option("--node-rank", type=NON_NEGATIVE,
                 help="This machine's rank (static rendezvous); omit to let nodes meet."),
    click.option("--rdzv-endpoint", metavar="HOST:PORT",
                 help="Rendezvous address (node 0), needed with --nnodes > 1."),
    click.option("--wandb", is_flag=True, default=None,
                 help="Also log to Weights & Biases (needs wandb)."),
    click.option("--tensorboard", is_flag=True, default=None,
                 help="Also log to TensorBoard in RUN_DIR/tensorboard (needs tensorboard)."),
    click.option("--quiet", "-q", is_flag=True, default=None, help="No progress output."),
    click.option("--time-limit", type=Duration(), metavar="DURATION",
                 help="Stop after the step during which this much time (600, 9m, 3h50m) "
                      "has passed since the command started, write a checkpoint and exit 3; "
                      "--resume continues. For job schedulers' wall-time limits."),
)


@click.command(
    epilog="""\b
Examples:
  hrm train sudoku                     # Sudoku-Extreme-1k, fetched and built on first use
  hrm train maze --gpus 4              # Maze-Hard on 4 GPUs
  hrm train sudoku --data data/sudoku-extreme-1k-aug-1000
  hrm train sudoku --data data/sudoku-extreme-1k-aug-1000 --batch-size 384 --lr 7e-5 \\
      --puzzle-emb-lr 7e-5                                  # the original single-GPU run
  hrm train maze --data data/maze-30x30-hard-1k --gpus 8
  hrm train arc --data data/arc-agi-1-aug-1000 --gpus 8 --nnodes 2 --rdzv-endpoint node0:29500
  hrm train sudoku --data data/demo --preset tiny --steps 200 --nproc 2 --device cpu
  hrm train sudoku --data data/my-sudoku --init-from default:sudoku --lr 3e-4   # fine-tune
  hrm train --resume runs/sudoku-20250101-120000
  hrm train --resume runs/sudoku-20250101-120000 --time-limit 3h50m   # in a 4-hour job
  torchrun --nproc-per-node 8 -m hrm_cli train sudoku --data ...   # external launcher

\b
Run folder: config.json, metrics.jsonl, evals.jsonl, checkpoint.safetensors and, at the
end, model/ (a bundle for `hrm solve` / `hrm eval`). Ctrl-C writes a checkpoint and exits
130, --time-limit exits 3; --resume continues the run exactly where it stopped.
"""
)
@click.argument("task", type=TaskChoice(), required=False)
@click.option("--data", type=click.Path(file_okay=False),
              help="Built dataset folder (`hrm datasets build`) [the task's standard dataset "
                   "from the cache, fetched and built on first use: Sudoku-Extreme with "
                   "1,000 puzzles x 1,000 augmentations, Maze-Hard, ARC-AGI-1 with "
                   "ConceptARC].")
@click.option("--out", "-o", type=click.Path(file_okay=False),
              help="Run folder [runs/<task>-<date>-<time>].")
@click.option("--resume", type=click.Path(file_okay=False), metavar="RUN_DIR",
              help="Continue the run in RUN_DIR from its last checkpoint.")
@click.option("--init-from", metavar="MODEL", shell_complete=model_names,
              help="Start from the weights of MODEL (default:TASK, a model name, a bundle, "
                   "a run folder: its final model or latest checkpoint; a release "
                   "checkpoint): its architecture, this run's recipe, a fresh optimizer and "
                   "schedule.")
@_recipe_options
@_model_options
@_runtime_options
@click.pass_context
def train(ctx: click.Context, task: str | None, data: str | None, out: str | None,
          resume: str | None, init_from: str | None, **options: Any) -> None:
    """Train an HRM on a built dataset, with the original recipe for TASK.

    Without --data, TASK's standard dataset as the paper trained on it: the one built in
    the cache, else the sources are fetched (with progress) and built there first.

    Defaults follow the paper's release per task (AdamATan2 + sign-SGD puzzle embeddings,
    warm-up, global batch 768, ACT with up to 16 segments); every value is an option.
    """
    started = time.time()
    given = {name.rstrip("_") for name in options
             if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    options["compile"] = options.pop("compile_")
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

    device = options["device"] or "auto"
    if options["gpus"]:
        _require_gpus(options["gpus"], device)
    else:
        resolve_device(device)
    # Under torchrun every rank gets here; rank 0 speaks, the others wait on its build.
    quiet = bool(options["quiet"]) or not (World.from_env() or World()).is_main

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


def architecture_options(options: dict[str, Any]) -> dict[str, Any]:
    """The HRMConfig fields the parsed `hrm train` options set (unset ones are None)."""
    return {field: options[name] for name, field in MODEL_OPTIONS.items()
            if options[name] is not None}


def _new_config(task: str, data: str | None, out: str | None, options: dict[str, Any],
                init_from: str | None, given: set[str]) -> TrainConfig:
    from hrm.train.config import build_config
    from hrm.train.distributed import World
    from hrm.train.loop import check_new_run_dir
    from hrm.train.warm_start import TRAINING_CHOICES

    if init_from is not None:
        fixed = sorted(f"--{name.replace('_', '-')}" for name in given
                       if name in ("preset", "arch") or (name in MODEL_OPTIONS
                                               and MODEL_OPTIONS[name] not in TRAINING_CHOICES))
        if fixed:
            raise click.UsageError(f"{', '.join(fixed)} cannot be given with --init-from: the "
                                   f"architecture is {init_from}'s")

    architecture = architecture_options(options)
    if options["arch"] in ("trm", "trm-mlp") and "H_layers" in architecture:
        raise click.UsageError("--h-layers: TRM has one network; size it with --l-layers")
    if options["arch"] is not None:
        architecture["name"] = options["arch"]
    settings = {field: options[name] for name, field in RUN_OPTIONS.items()
                if options[name] is not None}
    run_dir = Path(out) if out else Path("runs") / f"{task}-{time.strftime('%Y%m%d-%H%M%S')}"
    # Under torchrun, or on several nodes, rank 0 checks and creates it (other nodes may
    # share the file system and see it already).
    if (World.from_env() or World()).is_main and options["nnodes"] == 1:
        check_new_run_dir(run_dir)
    if data is None:
        data = str(_standard_dataset(task, options))
    config = build_config(task, data, run_dir, preset=options["preset"],
                          architecture=architecture, init_from=init_from, **settings)
    # The recipe is the architecture's (known only now for --init-from), then the options.
    config.recipe = config.recipe.with_overrides(
        **{field: options[name] for name, field in RECIPE_OPTIONS.items()})
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
    fixed = sorted(
        f"--{name.replace('_', '-')}" for name in given
        if (name in RECIPE_OPTIONS and RECIPE_OPTIONS[name] not in RESUME_RECIPE_FIELDS)
        or name in MODEL_OPTIONS or name in ("preset", "arch")
        or (name in RUN_OPTIONS and RUN_OPTIONS[name] not in RESUME_FIELDS)
    )
    if fixed:
        raise click.UsageError(f"{', '.join(fixed)} cannot change when resuming a run (they "
                               "define it); start a new run instead")
    recipe = config.recipe.with_overrides(**{RECIPE_OPTIONS[n]: options[n] for n in given
                                             if n in RECIPE_OPTIONS})
    changes = {RUN_OPTIONS[n]: options[n] for n in given if n in RUN_OPTIONS}
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


# ----------------------------------------------------------------------------------------
# Progress on stderr
# ----------------------------------------------------------------------------------------


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
        for name, votes in _variant_votes(record):
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


# ----------------------------------------------------------------------------------------
# hrm eval
# ----------------------------------------------------------------------------------------


@click.command(
    "eval",
    epilog="""\b
Examples:
  hrm eval runs/sudoku-20250101-120000                    # on the run's own dataset
  hrm eval runs/maze-1/model --data data/maze-30x30-hard-1k --max-segments 32
  hrm eval runs/arc-1 --data data/arc-agi-1-aug-1000 --format json | jq .arc
  hrm eval default:sudoku --data data/sudoku-test --dtype bfloat16 --device cpu
  hrm eval default:sudoku --data data/sudoku-test --attempts 8   # as hrm solve retries
""",
)
@click.argument("target", metavar="RUN_DIR|MODEL", shell_complete=model_names)
@click.option("--data", type=click.Path(file_okay=False),
              help="Built dataset folder [a run's own dataset].")
@click.option("--split", default="test", show_default=True, help="Split to evaluate.")
@click.option("--device", default="auto", show_default=True,
              help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--batch-size", type=POSITIVE, default=256, show_default=True,
              help="Global evaluation batch.")
@click.option("--max-segments", type=POSITIVE,
              help="Segment budget; more than in training scales inference time "
                   "[the trained halt_max_steps].")
@click.option("--dtype", type=click.Choice(DTYPES),
              help="Activation dtype [the model's own: auto = bfloat16 on GPUs, float32 on "
                   "the CPU].")
@click.option("--attempts", type=click.IntRange(min=1), default=1, show_default=True,
              metavar="N",
              help="Also solve the split as `hrm solve --attempts N` does (sudoku, maze): "
                   "adaptive halting, a rule-breaking answer retried under up to N-1 "
                   "symmetries; reports the share solved within 1, 2, 4, ... N attempts.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table, or JSON for scripts (the same numbers).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def eval_command(target: str, data: str | None, split: str, device: str, batch_size: int,
                 max_segments: int | None, dtype: str | None, attempts: int, fmt: str,
                 quiet: bool) -> None:
    """Evaluate a run (its final model, else its latest checkpoint) or a model.

    MODEL is a bundle folder or a name `hrm models list` shows (default:sudoku, a cached
    model or an alias such as hrm-sudoku-extreme).

    Reports exact accuracy (every labelled token right), token accuracy, accuracy by
    segment budget (1, 2, 4, 8, 16, ... up to --max-segments) and with adaptive halting
    (the model's own Q head decides when to stop), and for ARC pass@1/pass@2 after undoing
    the augmentations and voting over them, as the original evaluation does.

    With --attempts N the split is then also solved as `hrm solve` solves it: the rules,
    never the labels, decide which answers to retry and keep; the first attempt repeats
    the adaptive rollout (N-1 more only for the examples that failed). Under torchrun
    this part runs on rank 0 alone.
    """
    from hrm.datasets.format import load_identifiers
    from hrm.datasets.tasks import get_task
    from hrm.inference.attempts import check_retries, evaluate_attempts
    from hrm.inference.errors import InferenceError
    from hrm.train.data import EvalLoader
    from hrm.train.distributed import World, resolve_device, setup, teardown
    from hrm.train.errors import TrainingError
    from hrm.train.evaluate import check_model_fits, evaluate, load_eval_target
    from hrm.train.recipes import check_task

    world = World.from_env() or World()
    torch_device = resolve_device(device, world)
    setup(world, torch_device)
    try:
        loaded = load_eval_target(target, torch_device)
        if dtype is not None:
            loaded.model.config.forward_dtype = dtype
        if data is None and loaded.data is None:
            raise click.UsageError("give --data DIR: a bundle does not say what it was "
                                   "trained on")
        folder = Path(data or loaded.data)
        try:
            loader = EvalLoader(folder, batch_size, rank=world.rank,
                                world_size=world.world_size, split=split)
        except ValueError as exc:
            raise TrainingError(f"{folder}: {exc}") from None
        if loaded.task is not None:
            check_task(loaded.task, loader.metadata, folder)
        check_model_fits(loaded.model, loader.metadata, folder)
        if attempts > 1:
            try:
                check_retries(loaded.task)
            except InferenceError as exc:
                raise click.UsageError(str(exc)) from None
        votes = loaded.task is not None and get_task(loaded.task).votes_over_variants
        identifiers = load_identifiers(folder) if votes else None
        with progress_bar(quiet or not world.is_main) as progress:
            bar = progress.add_task(f"eval {split}", total=len(loader))
            result = evaluate(loaded.model, loader, max_segments=max_segments,
                              task=loaded.task, identifiers=identifiers, split=split,
                              progress=lambda done, total: progress.update(bar, completed=done))
    finally:
        teardown()
    if result is None:
        return  # not rank 0
    report = {"model": str(loaded.source), "task": loaded.task, "data": str(folder),
              "dtype": str(loaded.model.forward_dtype).removeprefix("torch."),
              **result.to_dict()}
    if attempts > 1:
        with progress_bar(quiet) as progress:
            bar = progress.add_task(f"solve {split}, up to {attempts} attempts",
                                    total=result.examples)
            retried = evaluate_attempts(
                loaded.model, loaded.task, folder, attempts=attempts, split=split,
                max_segments=max_segments, batch_size=batch_size,
                progress=lambda done, total: progress.update(bar, completed=done))
        report["attempts"] = retried.to_dict()
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
    else:
        _print_eval_table(report)


def _print_eval_table(report: dict[str, Any]) -> None:
    from rich.table import Table

    console = stdout_console()
    title = (f"{report['task'] or 'model'} · {report['split']} split · {report['examples']} "
             f"examples · {report['model']}")
    summary = Table(title=title, show_header=False, title_justify="left")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    summary.add_row(f"exact accuracy ({report['max_segments']} segments)",
                    f"{report['exact_accuracy']:.2%}")
    summary.add_row("token accuracy", f"{report['token_accuracy']:.2%}")
    adaptive = report["adaptive"]
    summary.add_row("exact accuracy, adaptive halting", f"{adaptive['exact_accuracy']:.2%}")
    summary.add_row("mean segments, adaptive halting", f"{adaptive['mean_segments']:.2f}")
    for name, votes in _variant_votes(report):
        summary.add_row(f"{name.upper()} pass@1 ({votes['tasks']} tasks)",
                        f"{votes['pass@1']:.2%}")
        summary.add_row(f"{name.upper()} pass@2", f"{votes['pass@2']:.2%}")
    console.print(summary)

    budgets = Table(title="by segment budget", title_justify="left")
    budgets.add_column("segments", justify="right")
    budgets.add_column("exact", justify="right")
    budgets.add_column("token", justify="right")
    for budget, values in report["by_segments"].items():
        budgets.add_row(budget, f"{values['exact_accuracy']:.2%}",
                        f"{values['token_accuracy']:.2%}")
    console.print(budgets)

    if "attempts" in report:
        retried = report["attempts"]
        # A line, not a table title: a title wraps to the width of this narrow table.
        console.print(f"up to {retried['attempts']} attempts, as hrm solve retries: "
                      f"{retried['mean_segments']:.2f} segments per example")
        table = Table()
        table.add_column("attempts", justify="right")
        table.add_column("solved", justify="right")
        for k, solved in retried["solved_within"].items():
            table.add_row(k, f"{solved:.2%}")
        console.print(table)
        if retried["other_answers"]:
            console.print(f"{retried['other_answers']} solved by another valid answer than "
                          "the label")


def _variant_votes(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The pass@k of tasks that vote over variants (ARC), which evaluation reports under the
    task's name."""
    return [(name, value) for name, value in record.items()
            if isinstance(value, dict) and "pass@1" in value]


__all__ = ["eval_command", "train"]
