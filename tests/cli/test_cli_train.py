"""`hrm train` and `hrm eval` from the command line."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
import torch
from safetensors.torch import load_file

from hrm_cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from train_helpers import build_rows, maze_dataset, sudoku4_dataset

TINY = ["--preset", "tiny", "--batch-size", "16", "--lr", "1e-3", "--warmup-steps", "4",
        "--halt-max-steps", "3", "--log-interval", "1", "--device", "cpu"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data() -> Path:
    return sudoku4_dataset(64, 32)


def run(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_then_eval(data, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run(["train", "sudoku", "--data", data, "--out", out, "--steps", "8",
                             "--eval-interval", "1", *TINY], capsys)
    assert code == 0, err
    assert stdout.strip() == str(out)  # the run folder, for scripts
    # Not a terminal: plain progress lines on stderr.
    assert "training sudoku" in err and "step 1/8" in err and "samples/s" in err
    assert "eval at step 4: exact" in err and "finished 8 steps" in err
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.safetensors", "config.json", "evals.jsonl", "metrics.jsonl", "model"]

    code, stdout, err = run(["eval", out, "--data", data, "--format", "json",
                             "--max-segments", "5", "-q"], capsys)
    assert code == 0, err
    report = json.loads(stdout)
    assert report["task"] == "sudoku" and report["examples"] == 32
    assert list(report["by_segments"]) == ["1", "2", "3", "4", "5"]  # trained 3, asked 5
    assert set(report["adaptive"]) == {"exact_accuracy", "token_accuracy", "mean_segments"}
    assert report["by_segments"]["5"]["exact_accuracy"] == report["exact_accuracy"]

    code, stdout, _ = run(["eval", out / "model", "--data", data, "--batch-size", "7"], capsys)
    assert code == 0
    assert "exact accuracy (3 segments)" in stdout and "by segment budget" in stdout
    assert "adaptive halting" in stdout
    code, stdout, _ = run(["eval", out, "--format", "json", "-q"], capsys)  # the run's data
    assert code == 0 and json.loads(stdout)["data"] == str(data)
    code, _, err = run(["eval", out / "model"], capsys)
    assert code == 2 and "give --data DIR" in err


def test_dtype_is_recorded_and_eval_takes_model_names(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HRM_HOME", str(tmp_path / "home"))
    out = tmp_path / "run"
    code, _, err = run(["train", "sudoku", "--data", data, "--out", out, "--steps", "2",
                        "--dtype", "bfloat16", *TINY], capsys)
    assert code == 0, err
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["architecture"]["forward_dtype"] == "bfloat16"

    def report(*args):
        code, stdout, err = run(["eval", *args, "--data", data, "--format", "json", "-q"],
                                capsys)
        assert code == 0, err
        return json.loads(stdout)

    trained = report(out)
    assert trained["dtype"] == "bfloat16"
    as_float32 = report(out, "--dtype", "float32")
    assert as_float32["dtype"] == "float32"
    assert abs(as_float32["token_accuracy"] - trained["token_accuracy"]) < 0.05

    assert run(["models", "import", out / "model", "--name", "tiny-s4", "-q"], capsys)[0] == 0
    by_name = report("tiny-s4")
    assert by_name["model"] == str(tmp_path / "home" / "models" / "tiny-s4")
    assert by_name["by_segments"] == trained["by_segments"]
    code, _, err = run(["eval", "no-such-model", "--data", data], capsys)
    assert code == 1 and "no model named 'no-such-model'" in err


@pytest.mark.parametrize(("args", "message"), [
    (["train"], "give TASK (with --data DIR, or none for the task's standard dataset)"),
    (["train", "chess", "--data", "x"], "'chess' is not one of 'sudoku', 'maze', 'arc'"),
    (["train", "sudoku", "--data", "x", "--preset", "huge"], "Invalid value for '--preset'"),
    (["train", "sudoku", "--data", "x", "--batch-size", "0"], "Invalid value for '--batch-size'"),
    (["train", "--resume", "x", "--out", "y"], "exclude each other"),
])
def test_usage_errors_exit_2(args, message, capsys, tmp_path, data):
    if "--resume" in args:  # needs a real run to get past reading it
        run(["train", "sudoku", "--data", data, "--out", tmp_path / "r", "--steps", "1", *TINY],
            capsys)
        args = [a if a != "x" else str(tmp_path / "r") for a in args]
    code, _, err = run(args, capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_a_resumed_run_keeps_its_recipe_and_model(data, tmp_path, capsys):
    out = tmp_path / "run"
    assert run(["train", "sudoku", "--data", data, "--out", out, "--steps", "2", *TINY],
               capsys)[0] == 0
    code, _, err = run(["train", "--resume", out, "--lr", "0.1", "--hidden-size", "64"], capsys)
    assert code == 2 and "--hidden-size, --lr cannot change when resuming" in err
    code, _, err = run(["train", "maze", "--resume", out], capsys)
    assert code == 1 and "this run trains sudoku, not maze" in err
    code, stdout, err = run(["train", "--resume", out, "--steps", "3"], capsys)
    assert code == 0 and "steps 2 -> 3" in err and stdout.strip() == str(out)


def bundle_weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def test_init_from_starts_a_new_run_from_a_models_weights(data, tmp_path, capsys):
    source = tmp_path / "source"
    code, _, err = run(["train", "sudoku", "--data", data, "--out", source, "--steps", "6",
                        *TINY], capsys)
    assert code == 0, err
    # lr 0 for both optimizers: the weights the run starts from are those it exports.
    frozen = ["--steps", "2", "--lr", "0", "--puzzle-emb-lr", "0", "--batch-size", "16",
              "--device", "cpu", "-q"]
    code, _, err = run(["train", "sudoku", "--data", data, "--out", tmp_path / "warm",
                        "--init-from", source, "--halt-max-steps", "2", *frozen], capsys)
    assert code == 0, err
    trained = bundle_weights(source / "model")
    warm = bundle_weights(tmp_path / "warm" / "model")
    assert warm.keys() == trained.keys()
    assert all(torch.equal(warm[name], trained[name]) for name in trained)
    code, _, err = run(["train", "sudoku", "--data", data, "--out", tmp_path / "cold",
                        "--preset", "tiny", "--halt-max-steps", "3", *frozen], capsys)
    assert code == 0, err
    cold = bundle_weights(tmp_path / "cold" / "model")
    assert not torch.equal(cold["lm_head.weight"], trained["lm_head.weight"])

    document = json.loads((tmp_path / "warm" / "config.json").read_text())
    record = document["config"]["init_from"]
    assert record["model"] == str(source) and record["path"] == str((source / "model").resolve())
    assert record["source"]["steps"] == 6 and record["puzzle_embeddings"] == "copied"
    source_arch = json.loads((source / "config.json").read_text())["config"]["architecture"]
    arch = document["config"]["architecture"]
    assert arch == {**source_arch, "halt_max_steps": 2}  # the one training choice given
    bundle = json.loads((tmp_path / "warm" / "model" / "config.json").read_text())
    assert bundle["provenance"]["init_from"] == record


def test_init_from_an_unfinished_run_takes_its_latest_checkpoint(data, tmp_path, capsys):
    source = tmp_path / "paused"
    code, _, err = run(["train", "sudoku", "--data", data, "--out", source, "--steps", "100000",
                        "--time-limit", "1s", *TINY], capsys)
    assert code == 3, err
    step = json.loads(load_file_metadata(source / "checkpoint.safetensors"))["step"]
    checkpoint = {name.removeprefix("model/"): tensor for name, tensor
                  in load_file(source / "checkpoint.safetensors").items()
                  if name.startswith("model/")}
    code, _, err = run(["train", "sudoku", "--data", data, "--out", tmp_path / "warm",
                        "--init-from", source, "--steps", "1", "--lr", "0", "--puzzle-emb-lr",
                        "0", "--batch-size", "16", "--device", "cpu", "-q"], capsys)
    assert code == 0, err
    warm = bundle_weights(tmp_path / "warm" / "model")
    assert warm.keys() == checkpoint.keys()
    assert all(torch.equal(warm[name], checkpoint[name]) for name in checkpoint)
    record = json.loads((tmp_path / "warm" / "config.json").read_text())["config"]["init_from"]
    assert record["path"] == str(source.resolve()) and record["source"]["steps"] == step
    assert "latest checkpoint" in record["source"]["source"]
    assert not (source / "model").exists()  # the source run is left as it was, resumable
    code, _, err = run(["train", "maze", "--data", data, "--init-from", source, "--out",
                        tmp_path / "other"], capsys)
    assert code == 1 and f"--init-from {source}: a sudoku run, not maze" in err


def test_init_from_a_packaged_default_trains_at_its_trained_segments(tmp_path, capsys):
    from hrm.datasets import sudoku
    from hrm.datasets.sudoku_generator import GeneratorSettings, generate
    from hrm.inference.store import find_model

    rows = [(sudoku.format_line(p.puzzle), sudoku.format_line(p.solution))
            for p in generate(4, 7, GeneratorSettings(size=9, clues=40))]
    data = build_rows("sudoku", tmp_path / "data", rows[:2], rows[2:])
    code, _, err = run(["train", "sudoku", "--data", data, "--out", tmp_path / "ft",
                        "--init-from", "default:sudoku", "--steps", "1", "--batch-size", "2",
                        "--eval-interval", "0", "--device", "cpu", "-q"], capsys)
    assert code == 0, err
    config = json.loads((tmp_path / "ft" / "config.json").read_text())["config"]
    shipped = json.loads((find_model("default:sudoku").path / "config.json").read_text())
    assert shipped["architecture"]["halt_max_steps"] == 32  # the solve budget it ships with
    assert config["architecture"]["halt_max_steps"] == 8  # the one it was trained at
    assert config["architecture"]["hidden_size"] == shipped["architecture"]["hidden_size"]
    assert config["init_from"]["source"]["steps"] == shipped["provenance"]["steps"]
    assert config["preset"] == shipped["provenance"]["preset"]


def test_init_from_refuses_what_does_not_fit(data, tmp_path, capsys):
    source = tmp_path / "source"
    assert run(["train", "sudoku", "--data", data, "--out", source, "--steps", "1", *TINY],
               capsys)[0] == 0
    code, _, err = run(["train", "sudoku", "--data", data, "--init-from", source,
                        "--hidden-size", "64", "--preset", "small"], capsys)
    assert code == 2 and "--hidden-size, --preset cannot be given with --init-from" in err
    code, _, err = run(["train", "--resume", source, "--init-from", source], capsys)
    assert code == 2 and "--init-from starts a new run" in err
    for args, message in [
        (["--init-from", "default:sudoku"], "but default:sudoku takes vocab 11 and 81 tokens"),
        (["--init-from", tmp_path / "nowhere"], "no such file or folder"),
    ]:
        code, _, err = run(["train", "sudoku", "--data", data, "--out", tmp_path / "x",
                            *args], capsys)
        assert code == 1 and message in err and err.count("\n") == 1, err
    code, _, err = run(["train", "maze", "--data", maze_dataset(5, 8, 4), "--out",
                        tmp_path / "x", "--init-from", source], capsys)
    assert code == 1 and "a sudoku model, not maze" in err, err
    assert not (tmp_path / "x").exists()


def user_error_cases(data: Path, tmp_path: Path) -> list[tuple[list, str]]:
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    cases = [
        (["train", "sudoku", "--data", tmp_path / "nowhere"], "no such split folder"),
        (["train", "arc", "--data", data], "not a arc dataset"),
        (["train", "sudoku", "--data", maze_dataset(5, 8, 4)], "looks like maze data"),
        (["train", "sudoku", "--data", data, "--out", existing], "already exists; continue"),
        (["train", "--resume", tmp_path / "nowhere"], "no such run folder"),
        (["train", "--resume", existing], "config.json: missing"),
        (["train", "sudoku", "--data", data, "--hidden-size", "30", "--num-heads", "4"],
         "not a multiple of num_heads"),
        (["train", "sudoku", "--data", data, "--mixer", "natt3"], "hrm has no setting mixer"),
        (["train", "sudoku", "--data", data, "--arch", "trm", "--mixer", "conv3"],
         "mixer must be one of ('attention', 'mlp')"),
        (["eval", existing, "--data", data], "neither a run folder nor a model bundle"),
    ]
    if not torch.cuda.is_available():
        cases += [
            (["train", "sudoku", "--data", data, "--gpus", "2"],
             "no CUDA GPU is available on this machine"),
            (["train", "sudoku", "--data", data, "--device", "cuda"], "use --device cpu"),
        ]
    if importlib.util.find_spec("wandb") is None:
        cases.append((["train", "sudoku", "--data", data, "--wandb"],
                      "--wandb needs the wandb package"))
    if importlib.util.find_spec("tensorboard") is None:
        cases.append((["train", "sudoku", "--data", data, "--tensorboard"],
                      "--tensorboard needs the tensorboard package"))
    return cases


def test_user_errors_are_one_line_and_exit_1(data, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default run folders land here, if any slipped through
    for args, message in user_error_cases(data, tmp_path):
        code, stdout, err = run(args, capsys)
        assert code == 1, (args, err)
        assert message in err, (args, err)
        assert err.startswith("Error: ") and err.count("\n") == 1, (args, err)
        assert stdout == ""
    assert not (tmp_path / "runs").exists()


def test_gpus_message_names_the_cpu_alternative(data, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    _, _, err = run(["train", "sudoku", "--data", data, "--gpus", "2"], capsys)
    assert "use --nproc 2 --device cpu" in err


def test_eval_refuses_a_dataset_of_another_task(data, tmp_path, capsys):
    out = tmp_path / "run"
    run(["train", "sudoku", "--data", data, "--out", out, "--steps", "1", *TINY], capsys)
    code, _, err = run(["eval", out, "--data", maze_dataset(5, 8, 4)], capsys)
    assert code == 1 and "not a sudoku dataset" in err


@pytest.mark.slow
def test_ctrl_c_writes_a_checkpoint_exits_130_and_resume_matches_a_straight_run(
        data, tmp_path, capsys):
    steps = 300
    args = ["--steps", steps, "--eval-interval", "2", "--halt-exploration-prob", "0.3", *TINY]
    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen(
        [sys.executable, "-m", "hrm_cli", "train", "sudoku", "--data", str(data), "--out",
         str(interrupted), *map(str, args)],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    metrics = interrupted / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 3):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stdout, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert f"continue with: hrm train --resume {interrupted}" in err
    assert "Traceback" not in err and stdout == ""
    state = json.loads(load_file_metadata(interrupted / "checkpoint.safetensors"))
    assert 3 <= state["step"] < steps
    assert not (interrupted / "model").exists()

    code, _, err = run(["train", "--resume", interrupted], capsys)
    assert code == 0, err
    straight = tmp_path / "straight"
    assert run(["train", "sudoku", "--data", data, "--out", straight, *args], capsys)[0] == 0
    a = load_file(str(straight / "model" / "model.safetensors"))
    b = load_file(str(interrupted / "model" / "model.safetensors"))
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    a = load_file(str(straight / "checkpoint.safetensors"))
    b = load_file(str(interrupted / "checkpoint.safetensors"))
    assert sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_time_limit_stops_with_a_checkpoint_exits_3_and_resume_finishes(data, tmp_path,
                                                                        capsys):
    out = tmp_path / "run"
    code, stdout, err = run(["train", "sudoku", "--data", data, "--out", out, "--steps",
                             "100000", "--time-limit", "1s", *TINY], capsys)
    assert code == 3, err
    assert "Time limit reached at step " in err and "of 100000" in err
    assert f"continue with: hrm train --resume {out}" in err and stdout == ""
    step = json.loads(load_file_metadata(out / "checkpoint.safetensors"))["step"]
    assert 1 <= step < 100000 and not (out / "model").exists()
    code, stdout, err = run(["train", "--resume", out, "--steps", step + 2,
                             "--time-limit", "1h"], capsys)
    assert code == 0 and f"steps {step} -> {step + 2}" in err and (out / "model").is_dir()


@pytest.mark.parametrize(("text", "seconds"), [
    ("600", 600), ("45s", 45), ("9m", 540), ("1h30m", 5400), ("2.5h", 9000), ("1m30s", 90),
])
def test_time_limits_read_as_durations(text, seconds):
    from hrm_cli.train_cmd import Duration

    assert Duration().convert(text, None, None) == seconds


@pytest.mark.parametrize("text", ["0", "0m", "", "ten", "5x", "m", "1.h", "-5"])
def test_bad_time_limits_are_usage_errors(text, data, capsys):
    code, _, err = run(["train", "sudoku", "--data", data, "--time-limit", text], capsys)
    assert code == 2 and "is not a duration above zero" in err and "Traceback" not in err


def load_file_metadata(path: Path) -> str:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return handle.metadata()["hrm-state"]


def test_help_shows_the_options(capsys):
    code, out, _ = run(["train", "--help-all"], capsys)
    assert code == 0
    for option in ("--resume", "--gpus", "--nproc", "--nnodes", "--node-rank",
                   "--rdzv-endpoint", "--puzzle-emb-lr", "--halt-max-steps", "--compile",
                   "--wandb", "--tensorboard", "--steps", "--epochs", "--preset",
                   "--time-limit", "--ema"):
        assert option in out
    code, out, _ = run(["eval", "--help"], capsys)
    assert code == 0 and "--max-segments" in out and "--format" in out


def test_dtype_and_gradient_choices_are_the_models():
    from hrm.model.config import FORWARD_DTYPES, GRADIENTS, HALTINGS
    from hrm_cli.train_cmd import train

    choices = {p.name: tuple(p.type.choices) for p in train.params
               if isinstance(p.type, click.Choice)}
    assert choices["dtype"] == FORWARD_DTYPES and choices["gradient"] == GRADIENTS
    assert choices["halting"] == HALTINGS


def test_init_from_an_original_release_checkpoint(tmp_path, capsys):
    from hrm.inference.store import import_release

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "official-hrm"
    release = fixtures / "model"
    code, _, err = run(["train", "sudoku", "--data", fixtures / "datasets" / "sudoku-built",
                        "--out", tmp_path / "ft", "--init-from", release, "--steps", "1",
                        "--batch-size", "4", "--lr", "0", "--puzzle-emb-lr", "0",
                        "--eval-interval", "0", "--device", "cpu", "-q"], capsys)
    assert code == 0, err
    record = json.loads((tmp_path / "ft" / "config.json").read_text())["config"]["init_from"]
    # The release was trained with 3 puzzle identifiers, this dataset has 1: a fresh table.
    assert record["puzzle_embeddings"] == "fresh" and record["path"] == str(release)
    original = import_release(release, "sudoku").state_dict()
    warm = bundle_weights(tmp_path / "ft" / "model")
    assert not warm["puzzle_emb.weights"].any()
    for name, tensor in original.items():
        if name != "puzzle_emb.weights":
            assert torch.equal(warm[name], tensor), name


def test_halt_only_trains_without_a_continue_loss_and_can_follow_a_q_learning_run(
        data, tmp_path, capsys):
    source = tmp_path / "q"
    code, _, err = run(["train", "sudoku", "--data", data, "--out", source, "--steps", "3",
                        *TINY], capsys)
    assert code == 0, err
    for out, start in ((tmp_path / "cold", ["--preset", "tiny"]),
                       (tmp_path / "warm", ["--init-from", source])):
        code, _, err = run(["train", "sudoku", "--data", data, "--out", out, "--steps", "3",
                            "--halting", "halt-only", "--batch-size", "16", "--device", "cpu",
                            "--log-interval", "1", "-q", *start], capsys)
        assert code == 0, err
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        assert len(rows) == 3 and all(r["q_continue_loss"] == 0 for r in rows)
        assert all(r["q_halt_loss"] > 0 for r in rows)
        bundle = json.loads((out / "model" / "config.json").read_text())
        assert bundle["architecture"]["halting"] == "halt-only"
    q_rows = [json.loads(line) for line in (source / "metrics.jsonl").read_text().splitlines()]
    assert all(r["q_continue_loss"] > 0 for r in q_rows)


def test_a_grid_mixer_is_chosen_with_mixer(tmp_path, capsys):
    out = tmp_path / "natt"
    code, _, err = run(["train", "maze", "--data", maze_dataset(5, 8, 4), "--arch", "grid-hrm",
                        "--preset", "tiny", "--mixer", "natt3", "--num-heads", "2", "--steps",
                        "2", "--batch-size", "4", "--eval-interval", "0", "--out", out, "-q"],
                       capsys)
    assert code == 0, err
    architecture = json.loads((out / "model" / "config.json").read_text())["architecture"]
    assert (architecture["name"], architecture["mixer"], architecture["num_heads"]) == \
        ("grid-hrm", "natt3", 2)
    weights = load_file(str(out / "model" / "model.safetensors"))
    assert any(name.endswith("offset_bias") for name in weights)
