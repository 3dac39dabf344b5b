"""Multi-process training on the CPU with gloo: our launcher, an external torchrun, Ctrl-C.

A 2-process run and a 1-process run with the same global batch see the same data and
compute the same global-batch gradient, so their weights agree to float rounding. The ACT
exploration draws are per rank (seed + rank) by design, so these runs switch it off.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from ports import unused_port
from threads import torch_threads
from train_helpers import checkpoint_weights, sudoku4_dataset, tiny_config

from hrm.inference.errors import DeviceError
from hrm.train.checkpoint import CHECKPOINT_NAME, CheckpointReader
from hrm.train.distributed import LaunchSpec, World, require_cuda, resolve_device
from hrm.train.errors import TrainingError
from hrm.train.loop import train


def cli_args(steps: int = 6) -> list[str]:
    """The run of `tiny_config(..., batch=16, eval_batch_size=10)`, exploration off."""
    return ["--preset", "tiny", "--steps", str(steps), "--batch-size", "16", "--lr", "1e-3",
            "--warmup-steps", "4", "--puzzle-emb-lr", "1e-2", "--eval-interval", "1",
            "--eval-batch-size", "10", "--halt-max-steps", "3", "--halt-exploration-prob",
            "0", "--log-interval", "1", "--checkpoint-interval", "0", "--device", "cpu"]


# One thread per worker: the machine has two cores, and reproducible sums across runs.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def data() -> Path:
    return sudoku4_dataset(64, 32)


@pytest.fixture(scope="module")
def single(data, tmp_path_factory) -> Path:
    """The 1-process reference run, in this process."""
    run = tmp_path_factory.mktemp("single") / "run"
    with torch_threads(1):
        config = tiny_config(data, run, steps=6, batch=16, eval_interval=1, eval_batch_size=10,
                             architecture={"halt_exploration_prob": 0.0})
        assert train(config).status == "finished"
    return run


def hrm(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hrm_cli", *args], env=ENV,
                          capture_output=True, text=True, timeout=300, **kwargs)


def assert_same_training(a: Path, b: Path, exact: bool) -> None:
    wa, wb = checkpoint_weights(a), checkpoint_weights(b)
    names = [k for k in wa if k.startswith(("model/", "optim/"))]
    assert names and all(k in wb for k in names)
    for name in names:
        if exact:
            assert torch.equal(wa[name], wb[name]), name
        else:
            torch.testing.assert_close(wa[name], wb[name], rtol=0, atol=1e-6, msg=name)
    # Evaluation inside training gathers every rank's share: the same numbers.
    evals = [[json.loads(line) for line in (run / "evals.jsonl").read_text().splitlines()]
             for run in (a, b)]
    assert [e["step"] for e in evals[0]] == [e["step"] for e in evals[1]] == [4, 6]
    for ea, eb in zip(*evals, strict=True):
        assert ea["examples"] == eb["examples"] == 32
        assert ea["token_accuracy"] == pytest.approx(eb["token_accuracy"], abs=1e-6)


@pytest.mark.slow
def test_two_gloo_workers_from_our_launcher_match_one_process(data, single, tmp_path):
    run = tmp_path / "run"
    done = hrm("train", "sudoku", "--data", str(data), "--out", str(run), "--nproc", "2",
               *cli_args())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(run)
    assert "cpu x 2" in done.stderr and "Traceback" not in done.stderr
    state = CheckpointReader(run / CHECKPOINT_NAME).state
    assert state["world_size"] == 2 and len(state["rng"]) == 2
    assert_same_training(run, single, exact=False)
    # Only rank 0 writes: one line per step, one config, one bundle.
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 6
    assert (run / "model" / "model.safetensors").is_file()


@pytest.mark.slow
def test_a_run_started_by_torchrun_is_detected(data, single, tmp_path):
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
         "2", "-m", "hrm_cli", "train", "sudoku", "--data", str(data), "--out", str(run),
         *cli_args()], env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(run)  # rank 0 reports, rank 1 stays quiet
    assert CheckpointReader(run / CHECKPOINT_NAME).state["world_size"] == 2
    assert_same_training(run, single, exact=False)


WORKER_THREADS = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from train_helpers import tiny_config
from hrm.train.loop import train
config = tiny_config(sys.argv[2], sys.argv[3], steps=2, batch=16, eval_interval=0)
assert train(config).status == "finished"
names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
with open(os.path.join(sys.argv[3], f"threads-{os.environ['RANK']}.json"), "w") as f:
    json.dump([n for n in names if "gloo" in n], f)
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads Linux's /proc")
def test_a_finished_rank_leaves_no_gloo_threads_for_interpreter_exit(data, tmp_path):
    # Gloo's threads still running when the interpreter finalizes can abort the process
    # (SIGABRT, "terminate called without an active exception") after a finished run:
    # the process group must really be gone when train() returns.
    script = tmp_path / "worker.py"
    script.write_text(WORKER_THREADS)
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
         "2", str(script), str(Path(__file__).parents[1]), str(data), str(tmp_path / "run")],
        env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    threads = [json.loads((tmp_path / "run" / f"threads-{rank}.json").read_text())
               for rank in (0, 1)]
    assert threads == [[], []]


@pytest.mark.slow
def test_two_nodes_meet_at_the_rendezvous_endpoint(data, single, tmp_path):
    # Two "nodes" on this machine, one worker each, meeting at a c10d rendezvous.
    run = tmp_path / "run"
    command = [sys.executable, "-m", "hrm_cli", "train", "sudoku", "--data", str(data),
               "--out", str(run), "--nnodes", "2", "--nproc", "1", "--rdzv-endpoint",
               f"127.0.0.1:{unused_port()}", *cli_args()]
    nodes = [subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [node.communicate(timeout=300) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], results
    assert CheckpointReader(run / CHECKPOINT_NAME).state["world_size"] == 2
    assert_same_training(run, single, exact=False)


@pytest.mark.slow
def test_ctrl_c_reaches_launched_workers_which_checkpoint(data, tmp_path):
    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "hrm_cli", "train", "sudoku", "--data", str(data), "--out",
         str(run), "--nproc", "2", *cli_args(steps=5000)], env=ENV, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 2):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)  # to the launcher only: it forwards to its workers
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert f"hrm train --resume {run}" in err and "Traceback" not in err
    state = CheckpointReader(run / CHECKPOINT_NAME).state
    assert 2 <= state["step"] < 5000 and state["world_size"] == 2


@pytest.mark.slow
def test_a_time_limit_stops_every_launched_worker_after_the_same_step(data, tmp_path):
    run = tmp_path / "run"
    done = hrm("train", "sudoku", "--data", str(data), "--out", str(run), "--nproc", "2",
               "--time-limit", "15s", *cli_args(steps=100000))
    assert done.returncode == 3, done.stderr
    assert f"hrm train --resume {run}" in done.stderr and "Traceback" not in done.stderr
    state = CheckpointReader(run / CHECKPOINT_NAME).state
    assert 1 <= state["step"] < 100000 and state["world_size"] == 2


# ----------------------------------------------------------------------------------------
# Devices, environment, launch settings
# ----------------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_gpus_without_them_names_the_cpu_alternative():
    with pytest.raises(TrainingError, match=r"--gpus 4: no CUDA GPU .* use --nproc 4 "
                                            r"--device cpu"):
        require_cuda("--gpus 4", 4)
    with pytest.raises(DeviceError, match="--device cuda: no CUDA GPU"):
        resolve_device("cuda")


def test_devices_resolve():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("CPU") == torch.device("cpu")
    several = resolve_device("auto", World(0, 2, 0, 2))  # MPS runs one process only
    assert several.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DeviceError, match="expected auto, cpu, cuda"):
        resolve_device("tpu")


def test_world_comes_from_torchrun_variables(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert World.from_env() is None
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    world = World.from_env()
    assert world == World(3, 4, 1, 2) and world.distributed and not world.is_main
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(TrainingError, match="not integers"):
        World.from_env()


@pytest.mark.parametrize(("spec", "problem"), [
    (LaunchSpec(2, nnodes=2), "needs --rdzv-endpoint"),
    (LaunchSpec(2, nnodes=2, node_rank=2, rdzv_endpoint="node0:29500"), "not in \\[0, 2\\)"),
    (LaunchSpec(0), "at least 1"),
])
def test_bad_launch_settings_are_refused(spec, problem):
    with pytest.raises(TrainingError, match=problem):
        spec.validate()
