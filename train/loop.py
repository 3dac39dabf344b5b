"""The training loop of HRM ACT v1, as the original `pretrain.py` runs it, and resumable.

One optimizer step per batch (`Trainer.train_step`):

1. the ACT carry keeps every batch slot's puzzle and recurrent state between steps; slots
   whose sequence halted at the previous step take the new batch's row (`HRM.forward`);
2. one segment runs, and `act_loss` scores it (the loss is a sum over the local batch);
3. `(loss / global_batch_size).backward()`, then the dense gradients are summed over the
   ranks: each rank holds its slice of the global batch, so the sum is the gradient of the
   global-batch mean, whatever the number of ranks (as the original);
4. AdamATan2 steps the dense weights and sign-SGD the puzzle-embedding rows the batch used,
   both at the scheduled rate for this step (counted from 1, as the original).

The data loader runs in passes of `eval_interval` epochs; the test split is evaluated at the
end of each pass and at the end of training, and a checkpoint follows every evaluation (and
every `checkpoint_interval` steps). Ctrl-C finishes the current step, writes a checkpoint and
returns "interrupted" (the CLI exits 130); past a deadline (`--time-limit`) it does the same
and returns "paused" (the CLI exits 3). The checkpoint holds everything that influences
later steps (see `hrm.train.checkpoint`), so a resumed run is the uninterrupted run.
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrm.datasets.errors import HRMDataError
from hrm.datasets.format import DatasetMetadata, load_identifiers
from hrm.datasets.tasks import get_task
from hrm.model import ACTCarry, CheckpointError, act_loss, compile_model, save_bundle
from hrm.model.architectures import build_model
from hrm.model.checkpoint import load_state_dict_checked, read_bundle_info
from hrm.train.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointReader,
    load_optimizer,
    optimizer_hyperparameters,
    optimizer_tensors,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from hrm.train.config import (
    RESUME_RECIPE_FIELDS,
    TrainConfig,
    provenance,
    read_run_config,
    write_run_config,
)
from hrm.train.data import EvalLoader, TrainLoader
from hrm.train.distributed import (
    World,
    all_reduce_gradients,
    all_reduce_sum,
    barrier,
    broadcast_module,
    broadcast_object,
    gather_objects,
    resolve_device,
    setup,
    teardown,
)
from hrm.train.ema import EMA_PREFIX, WeightAverage
from hrm.train.errors import TrainingError
from hrm.train.evaluate import EvalResult, evaluate
from hrm.train.logs import RunLogs
from hrm.train.optim import AdamATan2, SparseSignSGD
from hrm.train.recipes import Recipe, check_task, task_info
from hrm.train.schedule import lr_at
from hrm.train.warm_start import load_warm_start

METRIC_KEYS = ("count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps",
               "lm_loss", "q_halt_loss", "q_continue_loss")
BUNDLE_DIR = "model"
USER_ERRORS = (TrainingError, HRMDataError, CheckpointError)


class Reporter:
    """Where rank 0 reports progress (the CLI draws it); the base class reports nothing."""

    def start(self, info: dict[str, Any]) -> None:
        """Training starts or resumes: run_dir, step, total_steps, parameters, device, ..."""

    def log(self, record: dict[str, Any]) -> None:
        """A metrics.jsonl record (every `log_interval` steps)."""

    def evaluation(self, record: dict[str, Any]) -> None:
        """An evals.jsonl record."""

    def message(self, text: str) -> None:
        """A one-line event (checkpoint written, interrupted, ...)."""

    def close(self) -> None:
        """Training ended (any way)."""


@dataclass
class TrainOutcome:
    """How a training process ended; what the launcher's workers return."""

    status: str  # "finished", "interrupted", "paused" (at --time-limit) or "error"
    step: int = 0
    total_steps: int = 0
    run_dir: str = ""
    message: str = ""
    final_eval: dict[str, Any] | None = None


class StopRequest:
    """Ctrl-C handling while training: the first SIGINT asks for a clean stop (finish the
    step, write a checkpoint); another one more than `grace_s` later aborts at once.

    SIGTERM asks for the same clean stop: it is what torchrun's agent (and cluster
    schedulers) send before they kill a worker. The grace period absorbs the copy a launched
    worker gets from its parent on top of the terminal's own.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, grace_s: float = 3.0, deadline: float | None = None):
        self.requested = False
        self.grace_s = grace_s
        # Wall-clock time (time.time()) at which to stop as if asked to: `--time-limit`. A
        # wall clock, not a monotonic one, so launched workers and other nodes share it.
        self.deadline = deadline
        self._since = 0.0
        self._previous: dict[int, Any] = {}

    @property
    def out_of_time(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    def request(self) -> None:
        if not self.requested:
            self.requested, self._since = True, time.monotonic()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and time.monotonic() - self._since > self.grace_s:
            raise KeyboardInterrupt
        self.request()


@dataclass
class _Window:
    """Metric sums since the last log line."""

    sums: np.ndarray = field(default_factory=lambda: np.zeros(len(METRIC_KEYS)))
    steps: int = 0
    started: float = field(default_factory=time.perf_counter)

    def add(self, values: np.ndarray) -> None:
        self.sums += values
        self.steps += 1


# ----------------------------------------------------------------------------------------
# Run folder
# ----------------------------------------------------------------------------------------


def check_new_run_dir(path: Path) -> None:
    """TrainingError if `path` holds anything (a fresh run never overwrites a folder)."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise TrainingError(f"{path}: already exists; continue that run with --resume {path} "
                            "or choose another --out")


def dataset_summary(config: TrainConfig, train: DatasetMetadata,
                    test: DatasetMetadata | None) -> dict[str, Any]:
    return {"path": config.data, "train": vars(train).copy(),
            "test": vars(test).copy() if test is not None else None}


def prepare_run(config: TrainConfig, resume: bool, device: torch.device, world: World) -> None:
    """Rank 0: create the run folder and write (or extend) its config.json."""
    from hrm.datasets.format import load_split

    data = Path(config.data)
    train_meta = load_split(data, "train").metadata
    test_meta = load_split(data, "test").metadata if (data / "test").is_dir() else None
    dataset = dataset_summary(config, train_meta, test_meta)
    session = provenance(str(device), world.world_size)
    if resume:
        _, document = read_run_config(config.run_dir)
        sessions = [*document.get("sessions", []), {**session, "resumed": True}]
    else:
        check_new_run_dir(config.run_dir)
        config.run_dir.mkdir(parents=True, exist_ok=True)
        sessions = [session]
    write_run_config(config, dataset, sessions)


# ----------------------------------------------------------------------------------------
# The trainer
# ----------------------------------------------------------------------------------------


class Trainer:
    """Model, optimizers, data and schedule of one run, in one process (one rank)."""

    def __init__(self, config: TrainConfig, *, world: World | None = None,
                 device: torch.device | str = "cpu", reporter: Reporter | None = None,
                 resume: bool = False):
        world = world or World()
        self.config = config
        self.world = world
        self.device = torch.device(device)
        self.reporter = reporter if reporter is not None and world.is_main else Reporter()
        self.run_dir = config.run_dir
        self.step = 0
        self.elapsed = 0.0
        self.carry: ACTCarry | None = None
        self.last_eval: dict[str, Any] | None = None
        self.last_eval_step = -1
        self._window = _Window()
        self._session = (time.perf_counter(), 0.0)  # (start of this session, elapsed before)

        self._open_data()
        reader = CheckpointReader(self.run_dir / CHECKPOINT_NAME) if resume else None
        self._build_model(reader)
        recipe = config.recipe
        self.adam = AdamATan2(self.model.parameters(), lr=0.0, weight_decay=recipe.weight_decay,
                              betas=(recipe.beta1, recipe.beta2))
        self.sparse: SparseSignSGD | None = None
        if self.model.puzzle_emb is not None:
            self.sparse = SparseSignSGD(self.model.puzzle_emb, lr=0.0,
                                        weight_decay=recipe.puzzle_emb_weight_decay)
        self.ema = WeightAverage(self.model, recipe.ema) if recipe.ema > 0 else None
        if reader is not None:
            self._restore(reader)
        if config.compile:
            compile_model(self.model)

    def _open_data(self) -> None:
        """Training and test loaders of this rank, and the total number of steps."""
        config, world, recipe = self.config, self.world, self.config.recipe
        data = Path(config.data)
        try:
            self.train_loader = TrainLoader(data, recipe.global_batch_size, seed=config.seed,
                                            rank=world.rank, world_size=world.world_size,
                                            epochs_per_iter=config.epochs_per_pass())
            self.eval_loader: EvalLoader | None = None
            if (data / "test").is_dir():
                self.eval_loader = EvalLoader(data, config.eval_batch_size
                                              or recipe.global_batch_size,
                                              rank=world.rank, world_size=world.world_size)
        except ValueError as exc:  # batch sizes that do not split across the ranks
            raise TrainingError(f"{data}: {exc}") from None
        self.metadata = self.train_loader.metadata
        check_task(config.task, self.metadata, data)
        self._check_examples_per_pass()
        votes = get_task(config.task).votes_over_variants  # ARC: pass@k by puzzle names
        self.identifiers = load_identifiers(data) if votes else None
        self.total_steps = config.steps or int(recipe.epochs * self.train_loader.steps_per_epoch)
        if self.total_steps < 1:
            raise TrainingError(f"{recipe.epochs} epoch(s) of {data} are less than one step "
                                f"of {recipe.global_batch_size}; raise --epochs or set --steps")

    def _build_model(self, reader: CheckpointReader | None) -> None:
        model_config, meta = self.config.model_config, self.metadata
        if (model_config.vocab_size, model_config.seq_len) != (meta.vocab_size, meta.seq_len):
            raise TrainingError(f"{self.config.data}: vocab {meta.vocab_size} and "
                                f"{meta.seq_len} tokens, but the run's model has vocab "
                                f"{model_config.vocab_size} and {model_config.seq_len}")
        # The same initial weights on every rank (and a broadcast to be sure), then a
        # different random stream per rank for the ACT exploration.
        torch.manual_seed(self.config.seed)
        self.model = build_model(model_config)
        if reader is not None:
            load_state_dict_checked(self.model, reader.tensors("model/"), reader.path)
        elif self.config.init_from is not None:
            load_warm_start(self.model, self.config.init_from)
        self.model.to(self.device)
        if reader is None:
            broadcast_module(self.model)
        _seed_everything(self.config.seed + self.world.rank)

    # ------------------------------------------------------------------------------------
    def _check_examples_per_pass(self) -> None:
        meta, batch = self.metadata, self.config.recipe.global_batch_size
        per_pass = self.config.epochs_per_pass() * meta.total_groups * meta.mean_puzzle_examples
        if per_pass < batch:
            raise TrainingError(f"{self.config.data}: {per_pass:g} examples per data pass "
                                f"({self.config.epochs_per_pass()} epoch(s) between "
                                f"evaluations) do not fill one global batch of {batch}; lower "
                                "--batch-size or raise --eval-interval")

    def lr(self, base: float, step: int | None = None) -> float:
        recipe = self.config.recipe
        return lr_at(self.step if step is None else step, base, recipe.warmup_steps,
                     self.total_steps, recipe.lr_min_ratio)

    def train_step(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """One optimizer step on this rank's slice of a global batch; returns the local
        metric sums (float64, in `METRIC_KEYS` order)."""
        self.step += 1
        recipe = self.config.recipe
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        if self.carry is None:
            self.carry = self.model.initial_carry(batch)
        self.carry, outputs = self.model(self.carry, batch)
        loss, metrics = act_loss(outputs, self.carry.current_data["labels"], self.carry.halted,
                                 self.carry.steps, loss_type=recipe.loss_type)
        (loss / recipe.global_batch_size).backward()
        all_reduce_gradients(self.model.parameters())
        optimizers: list[tuple[torch.optim.Optimizer, float]] = [(self.adam, recipe.lr)]
        if self.sparse is not None:
            optimizers.append((self.sparse, recipe.puzzle_emb_lr))
        for optimizer, base_lr in optimizers:
            for group in optimizer.param_groups:
                group["lr"] = self.lr(base_lr)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.model)
        # No continue target (halt-only, or a single segment): no q_continue_loss.
        zero = torch.zeros((), device=loss.device)
        return torch.stack([metrics.get(k, zero).detach().to(torch.float64)
                            for k in METRIC_KEYS])

    # ------------------------------------------------------------------------------------
    def run(self, stop: StopRequest | None = None) -> TrainOutcome:
        """Train to `total_steps` (or until `stop` is requested); evaluate, checkpoint and
        export the final bundle on the way."""
        stop = stop or StopRequest()
        logs = self._open_logs()
        self._session = (time.perf_counter(), self.elapsed)
        self.reporter.start(self._start_info())
        try:
            self.model.train()
            empty_passes = 0
            while self.step < self.total_steps:
                if self._pass_ended_unevaluated():
                    self._evaluate_and_checkpoint(logs)
                ending, batches = self._train_pass(stop, logs)
                if ending in ("interrupted", "paused"):
                    return self._outcome(ending)
                if ending == "pass-end":
                    # An empty pass right after resuming means the checkpoint was taken on
                    # the last batch of a pass, before its evaluation: evaluate now. Two
                    # in a row mean the data cannot fill a batch.
                    empty_passes = 0 if batches else empty_passes + 1
                    if empty_passes > 1:
                        raise TrainingError(f"{self.config.data}: a data pass yields no full "
                                            "batch; lower --batch-size")
                    if self.config.recipe.eval_interval > 0 and self.last_eval_step != self.step:
                        self._evaluate_and_checkpoint(logs)
            if self.last_eval_step != self.step:
                self._evaluate(logs)
            self.save_checkpoint()
            self._export_bundle()
            return self._outcome("finished")
        finally:
            if logs is not None:
                logs.close()
            self.reporter.close()

    def _train_pass(self, stop: Any, logs: RunLogs | None) -> tuple[str, int]:
        """Train through the rest of the data loader's pass: ("pass-end" | "done" |
        "interrupted" | "paused", batches trained); "paused" means `stop`'s deadline
        passed."""
        batches = 0
        for batches, batch in enumerate(self.train_loader, start=1):
            metrics = self.train_step(batch)
            flags = torch.tensor([float(stop.requested), float(stop.out_of_time)],
                                 dtype=torch.float64, device=metrics.device)
            # One collective per step: the metric sums, "someone pressed Ctrl-C" and "some
            # clock passed --time-limit", so that every rank stops after the same step.
            values = all_reduce_sum(torch.cat([metrics, flags])).cpu().numpy()
            interrupted, out_of_time = values[-2] > 0, values[-1] > 0
            self._window.add(values[:-2])
            started, elapsed_before = self._session
            self.elapsed = elapsed_before + time.perf_counter() - started
            done = self.step >= self.total_steps
            if self.step % self.config.log_interval == 0 or done:
                self._log(self._window, logs)
                self._window = _Window()
            if done:
                return "done", batches  # the end beats Ctrl-C: only the bundle is left
            if interrupted or out_of_time:
                reason = "interrupted" if interrupted else "time limit reached"
                self.reporter.message(f"{reason} at step {self.step}: writing a checkpoint")
                self.save_checkpoint()
                return ("interrupted" if interrupted else "paused"), batches
            interval = self.config.checkpoint_interval
            if interval and self.step % interval == 0:
                self.save_checkpoint()
        return "pass-end", batches

    def _evaluate_and_checkpoint(self, logs: RunLogs | None) -> None:
        self._evaluate(logs)
        self.save_checkpoint()

    def _pass_ended_unevaluated(self) -> bool:
        """True right after resuming from a checkpoint taken on the last batch of a pass
        that ended on an epoch boundary, before that pass's evaluation."""
        sampler = self.train_loader.sampler
        return (self.config.recipe.eval_interval > 0 and self.step > 0
                and self.last_eval_step != self.step and sampler.position == 0
                and sampler.epoch % sampler.epochs_per_iter == 0)

    def _outcome(self, status: str) -> TrainOutcome:
        return TrainOutcome(status, self.step, self.total_steps, str(self.run_dir),
                            final_eval=self.last_eval)

    def _start_info(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "task": self.config.task, "step": self.step,
                "total_steps": self.total_steps, "parameters": self.model.num_parameters(),
                "device": str(self.device), "world_size": self.world.world_size,
                "global_batch_size": self.config.recipe.global_batch_size,
                "steps_per_epoch": self.train_loader.steps_per_epoch}

    def _open_logs(self) -> RunLogs | None:
        if not self.world.is_main:
            return None
        return RunLogs(self.run_dir, config=self.config.to_dict(),
                       resume_step=self.step if self.step else None,
                       wandb=self.config.wandb, tensorboard=self.config.tensorboard)

    def _log(self, window: _Window, logs: RunLogs | None) -> None:
        if logs is None:
            return
        sums = dict(zip(METRIC_KEYS, window.sums.tolist(), strict=True))
        samples = self.config.recipe.global_batch_size * window.steps
        count = sums["count"]

        def per_sequence(key: str) -> float | None:
            return sums[key] / count if count else None  # nothing halted in this window

        record = {
            "step": self.step,
            "epoch": round(self.train_loader.epoch, 4),
            "lr": self.lr(self.config.recipe.lr),
            "loss": (sums["lm_loss"] + 0.5 * (sums["q_halt_loss"] + sums["q_continue_loss"]))
            / samples,
            "lm_loss": sums["lm_loss"] / samples,
            "q_halt_loss": sums["q_halt_loss"] / samples,
            "q_continue_loss": sums["q_continue_loss"] / samples,
            "accuracy": per_sequence("accuracy"),
            "exact_accuracy": per_sequence("exact_accuracy"),
            "q_halt_accuracy": per_sequence("q_halt_accuracy"),
            "mean_segments": per_sequence("steps"),
            "halted": int(count),
            "samples_per_s": samples / max(time.perf_counter() - window.started, 1e-9),
            "elapsed_s": round(self.elapsed, 3),
        }
        logs.metrics(record)
        self.reporter.log(record)

    def _evaluate(self, logs: RunLogs | None) -> EvalResult | None:
        self.last_eval_step = self.step
        if self.eval_loader is None:
            return None
        with self._averaged_weights():
            result = evaluate(self.model, self.eval_loader, task=self.config.task,
                              identifiers=self.identifiers)
        self.model.train()
        if result is not None:
            record = {"step": self.step, "epoch": round(self.train_loader.epoch, 4),
                      **result.to_dict()}
            self.last_eval = record
            if logs is not None:
                logs.evaluation(record)
            self.reporter.evaluation(record)
        return result

    def _averaged_weights(self) -> AbstractContextManager[Any]:
        """The weights that evaluations and the bundle use: the EMA if the run keeps one."""
        return self.ema.applied(self.model) if self.ema is not None else nullcontext()

    # ------------------------------------------------------------------------------------
    # Checkpoints
    # ------------------------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        """Write RUN_DIR/checkpoint.safetensors (rank 0, with every rank's carry and RNG)."""
        rng_json, rng_tensors = rng_state(self.device)
        mine = {"rng": rng_json, "has_carry": self.carry is not None,
                "tensors": {**{f"rng/{k}": v.cpu() for k, v in rng_tensors.items()},
                            **_carry_tensors(self.carry)}}
        parts = gather_objects(mine)
        path = self.run_dir / CHECKPOINT_NAME
        if parts is not None:
            tensors = {f"model/{k}": v for k, v in self.model.state_dict().items()}
            tensors.update(optimizer_tensors(self.adam, "optim/"))
            if self.ema is not None:
                tensors.update(self.ema.tensors(EMA_PREFIX))
            for rank, part in enumerate(parts):
                tensors.update({f"rank{rank}/{k}": v for k, v in part["tensors"].items()})
            state = {
                "step": self.step,
                "total_steps": self.total_steps,
                "elapsed_s": self.elapsed,
                "loader": self.train_loader.state_dict(),
                "adam": optimizer_hyperparameters(self.adam),
                "sparse": None if self.sparse is None else {
                    "weight_decay": self.sparse.param_groups[0]["weight_decay"]},
                "world_size": self.world.world_size,
                "rng": [part["rng"] for part in parts],
                "has_carry": [part["has_carry"] for part in parts],
                "last_eval_step": self.last_eval_step,
                "last_eval": self.last_eval,
                "architecture": self.config.architecture,
                "recipe": self.config.recipe.to_dict(),
                "parameters": [name for name, _ in self.model.named_parameters()],
            }
            save_checkpoint(path, tensors, state)
            self.reporter.message(f"checkpoint at step {self.step}")
        barrier()
        return path

    def _restore(self, reader: CheckpointReader) -> None:
        state, path = reader.state, reader.path
        fixed_recipe = {k: v for k, v in self.config.recipe.to_dict().items()
                        if k not in RESUME_RECIPE_FIELDS}
        for key, current in (("architecture", self.config.architecture),
                             ("recipe", fixed_recipe)):
            saved = state.get(key)
            if key == "recipe" and isinstance(saved, dict):
                # Fields added since the checkpoint was written take their default (off).
                saved = {k: v for k, v in {**Recipe().to_dict(), **saved}.items()
                         if k not in RESUME_RECIPE_FIELDS}
            if saved != current:
                raise TrainingError(f"{path}: the checkpoint's {key} differs from the run's "
                                    "config.json; it belongs to another run")
        names = [name for name, _ in self.model.named_parameters()]
        if state.get("parameters") != names:
            raise TrainingError(f"{path}: the optimizer state does not fit this model")
        load_optimizer(self.adam, state["adam"], reader.tensors("optim/"), path)
        if self.ema is not None:
            try:
                self.ema.load(reader.tensors(EMA_PREFIX), str(path))
            except ValueError as exc:
                raise TrainingError(str(exc)) from None
        if self.sparse is not None and state.get("sparse"):
            self.sparse.param_groups[0]["weight_decay"] = state["sparse"]["weight_decay"]
        try:
            self.train_loader.load_state_dict(state["loader"])
        except (KeyError, ValueError) as exc:
            raise TrainingError(f"{path}: data loader state does not fit {self.config.data} "
                                f"({exc})") from None
        self.step = int(state["step"])
        self.elapsed = float(state.get("elapsed_s", 0.0))
        self.last_eval_step = int(state.get("last_eval_step", -1))
        self.last_eval = state.get("last_eval")
        if self.step >= self.total_steps and self._bundle_step() == self.step:
            raise TrainingError(f"{self.run_dir}: this run already finished at step "
                                f"{self.step} of {self.total_steps}; pass a larger --steps "
                                "to train it further")
        rank = self.world.rank
        if state.get("world_size") == self.world.world_size:
            set_rng_state(state["rng"][rank], reader.tensors(f"rank{rank}/rng/"), self.device)
            if state["has_carry"][rank]:
                self.carry = _carry_from(reader.tensors(f"rank{rank}/carry/"), self.device)
        else:
            # Another world size splits the batch differently: the in-flight sequences
            # restart with new data and each rank gets a fresh random stream.
            self.reporter.message(f"resuming on {self.world.world_size} process(es) instead "
                                  f"of {state.get('world_size')}: ACT sequences in flight "
                                  "restart and random streams are reseeded")
            _seed_everything(self.config.seed + rank + 7919 * self.step)

    def _bundle_step(self) -> int | None:
        """The step of the bundle in RUN_DIR/model, if any. A run paused by --time-limit
        after an earlier finish keeps that older bundle: only a bundle of the checkpoint's
        step means there is nothing left to do."""
        try:
            steps = read_bundle_info(self.run_dir / BUNDLE_DIR).provenance.get("steps")
        except CheckpointError:
            return None
        return steps if isinstance(steps, int) else None

    # ------------------------------------------------------------------------------------
    def _export_bundle(self) -> None:
        """Rank 0: the solve-ready bundle in RUN_DIR/model (weights, task, provenance)."""
        if self.world.is_main:
            folder = self.run_dir / BUNDLE_DIR
            metrics = dict(self.last_eval or {})
            with self._averaged_weights():
                save_bundle(self.model, folder,
                            task=task_info(self.config.task, self.metadata),
                            provenance=self._bundle_provenance(), metrics=metrics)
            if self.identifiers is not None:
                # ARC puzzles are named by identifier; the bundle's table rows follow this list.
                shutil.copyfile(Path(self.config.data) / "identifiers.json",
                                folder / "identifiers.json")
            self.reporter.message(f"model bundle: {folder}")
        barrier()

    def _bundle_provenance(self) -> dict[str, Any]:
        return {
            "source": "hrm train",
            "run_dir": str(self.run_dir),
            "data": self.config.data,
            "steps": self.step,
            "epochs": round(self.train_loader.epoch, 4),
            "wall_time_s": round(self.elapsed, 1),
            "device": str(self.device),
            "world_size": self.world.world_size,
            "preset": self.config.preset,
            "seed": self.config.seed,
            "recipe": self.config.recipe.to_dict(),
            "torch": torch.__version__,
            **({"init_from": self.config.init_from} if self.config.init_from else {}),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }


# ----------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------


def train(config: TrainConfig, *, resume: bool = False, reporter: Reporter | None = None,
          deadline: float | None = None) -> TrainOutcome:
    """Run (or resume) `config` in this process, as one rank of the world the environment
    describes (torchrun / our launcher) or alone. Returns how it ended. Past `deadline` (a
    time.time() value) it stops after the current step with a checkpoint ("paused")."""
    world = World.from_env() or World()
    device = resolve_device(config.device, world)
    setup(world, device)
    try:
        # Under an external torchrun every rank resolved its own defaults (the run folder's
        # timestamp): rank 0's config is the run's.
        config = broadcast_object(config)
        _on_rank0_then_all(world, lambda: prepare_run(config, resume, device, world))
        trainer = Trainer(config, world=world, device=device, reporter=reporter,
                          resume=resume)
        with StopRequest(deadline=deadline) as stop:
            return trainer.run(stop)
    finally:
        teardown()


def launched_worker(config: TrainConfig, resume: bool, reporter: Reporter | None,
                    deadline: float | None = None) -> TrainOutcome:
    """The function our elastic launcher runs in every worker: `train`, with user errors
    returned (the CLI prints them once) instead of raised as worker failures."""
    try:
        return train(config, resume=resume, reporter=reporter, deadline=deadline)
    except USER_ERRORS as exc:
        return TrainOutcome("error", run_dir=config.out, message=str(exc))


def _on_rank0_then_all(world: World, action: Callable[[], None]) -> None:
    """Run `action` on rank 0; if it fails with a user error, every rank raises it."""
    error = None
    if world.is_main:
        try:
            action()
        except USER_ERRORS as exc:
            error = str(exc)
    error = broadcast_object(error)
    if error is not None:
        raise TrainingError(error)


def _seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _carry_tensors(carry: ACTCarry | None) -> dict[str, torch.Tensor]:
    if carry is None:
        return {}
    tensors = {"carry/z_H": carry.z_H, "carry/z_L": carry.z_L, "carry/steps": carry.steps,
               "carry/halted": carry.halted}
    tensors.update({f"carry/data/{k}": v for k, v in carry.current_data.items()})
    return {k: v.detach().cpu() for k, v in tensors.items()}


def _carry_from(tensors: dict[str, torch.Tensor], device: torch.device) -> ACTCarry:
    data = {k.removeprefix("data/"): v.to(device) for k, v in tensors.items()
            if k.startswith("data/")}
    return ACTCarry(z_H=tensors["z_H"].to(device), z_L=tensors["z_L"].to(device),
                    steps=tensors["steps"].to(device), halted=tensors["halted"].to(device),
                    current_data=data)
