"""`hrm train`'s knobs: made from the config dataclasses, every old flag still there, the
true defaults in --help, one screen of --help, and the shared options defined once."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from hrm.model.config import CONFIGS
from hrm.train.recipes import Recipe, recipe_for
from hrm_cli.main import cli

HRM_CLI = Path(__file__).resolve().parents[2] / "hrm_cli"

# Every flag `hrm train` had when each was written out by hand: none may go away.
FLAGS = """
--arch --batch-size --beta1 --beta2 --checkpoint-interval --compile --data --device --dtype
--ema --epochs --eval-batch-size --eval-interval --expansion --gpus --gradient --h-cycles
--h-layers --halt-exploration-prob --halt-max-steps --halting --hidden-size --init-from
--l-cycles --l-layers --log-interval --loss-type --lr --lr-min-ratio --nnodes --node-rank
--nproc --num-heads --out --pos-encodings --preset --puzzle-emb-lr --puzzle-emb-ndim
--puzzle-emb-weight-decay --quiet --rdzv-endpoint --resume --seed --steps --tensorboard
--time-limit --wandb --warmup-steps --weight-decay -o -q
""".split()  # noqa: SIM905 (a block of flags reads better than a list of strings)


def help_text(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), terminal_width=100, prog_name="hrm")
    assert result.exit_code == 0, result.output
    return result.output


def option_help(text: str, flag: str) -> str:
    """The help of one option in a --help listing, its continuation lines joined."""
    match = re.search(rf"^  (?:-\w, )?{re.escape(flag)}\b.*?(?=^  -|^\S|\Z)", text,
                      re.M | re.S)
    assert match, f"{flag} not listed"
    return " ".join(match.group(0).split())


def test_help_fits_on_a_screen_and_points_to_help_all():
    text = help_text("train", "--help")
    assert len(text.splitlines()) <= 40, text
    assert "--help-all" in text and "--hidden-size" not in text


def test_help_all_lists_every_flag_under_its_heading():
    text = help_text("train", "--help-all")
    words = set(re.findall(r"(?<![\w-])--?[a-z][\w-]*", text))
    assert not set(FLAGS) - words
    for heading in ("Recipe", "Model", "Run:", "Launch"):
        assert heading in text
    assert text.index("--hidden-size") > text.index("Model (")
    assert text.index("--warmup-steps") > text.index("Recipe (")


def test_every_old_flag_is_still_an_option():
    from hrm_cli.train_cmd import train

    opts = {o for p in train.params if isinstance(p, click.Option) for o in p.opts}
    assert not set(FLAGS) - opts


def test_help_shows_the_defaults_of_the_tables():
    text = help_text("train", "--help-all")
    assert option_help(text, "--batch-size").endswith("[768]")
    assert "[sudoku/maze 1, arc 0.1]" in option_help(text, "--weight-decay")
    trm = recipe_for("sudoku", "trm").epochs
    assert f"trm, trm-mlp: sudoku/maze {trm}" in option_help(text, "--epochs")
    assert "[hrm 2; grid-hrm 3; trm, trm-mlp 6]" in option_help(text, "--l-cycles")
    assert "hrm q-learning" in option_help(text, "--halting")
    assert option_help(text, "--checkpoint-interval").endswith("[1000]")


@pytest.mark.parametrize("field", ["lr", "warmup_steps", "beta2"])
def test_a_recipe_default_is_written_once(field, monkeypatch):
    """Change the task's recipe and --help follows: nothing else holds the default."""

    import hrm_cli.knobs as knobs
    from hrm.datasets.tasks import TASK_NAMES, get_task

    for name in TASK_NAMES:
        task = get_task(name)
        monkeypatch.setattr(task, "recipe", {**task.recipe, field: 12345})
        monkeypatch.setattr(task, "architecture_recipes", {})
    knob = next(k for k in knobs.recipe_knobs() if k.field == field)
    assert knob.default == "12345"


def test_model_knobs_cover_every_field_with_help():
    from hrm_cli.knobs import KNOBS

    fields = {f.name for c in CONFIGS.values() for f in c.__dataclass_fields__.values()
              if "help" in f.metadata}
    assert fields == {k.field for k in KNOBS.values() if k.section == "model"}
    assert {f for f in Recipe.__dataclass_fields__} == \
        {k.field for k in KNOBS.values() if k.section == "recipe"}


def test_loss_choices_are_the_losses():
    from hrm.model.loss import LOSS_FUNCTIONS
    from hrm.train.recipes import LOSS_TYPES

    assert set(LOSS_TYPES) == set(LOSS_FUNCTIONS)


@pytest.mark.parametrize("command", ["train", "eval"])
def test_help_does_not_import_torch(command):
    code = (f"import sys; from hrm_cli.main import main; rc = main([{command!r}, '--help']); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("flag", ['"--format"', '"--quiet"', '"--device"'])
def test_shared_options_are_defined_once(flag):
    where = [path.name for path in HRM_CLI.rglob("*.py") for _ in
             range(path.read_text().count(flag))]
    assert where == ["options.py"]


def test_every_command_shares_the_same_device_and_quiet_options():
    seen = {}

    def walk(command: click.Command, ctx: click.Context) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), ctx)
            return
        for param in command.params:
            if param.name in ("device", "quiet"):
                seen.setdefault(param.name, set()).add(
                    (tuple(param.opts), param.get_default(ctx)))

    ctx = click.Context(cli)
    walk(cli, ctx)
    assert seen == {"device": {(("--device",), "auto")}, "quiet": {(("--quiet", "-q"), False)}}
