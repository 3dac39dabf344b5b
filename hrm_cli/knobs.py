"""`hrm train`'s knobs as click options, made from the config dataclasses.

A knob is a dataclass field with `metadata["help"]`: of `Recipe` (the optimisation), of
an architecture config in `hrm.model.config` (the model) or of `TrainConfig` (the run).
Its flag is the field's name in kebab case unless the metadata names one (`flag`); its
type comes from the field's type, narrowed by the metadata's `choices`, `min` and `max`;
the default `--help` shows is read from where the default lives (the task's recipe, the
architecture's first preset, the field), so it is never typed twice. A model knob whose
field is in none of the configs' presets shows the field's default.

Every knob's click default is None ("not given"): a new run then takes the recipe's or
the preset's value, and a resumed run keeps its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import click

from hrm.datasets.task_table import TASK_NAMES as TASKS
from hrm.model.config import CONFIGS
from hrm.train.config import TrainConfig
from hrm.train.recipes import Recipe, recipe_for

SECTIONS = {
    "recipe": "Recipe (defaults: the task's, as the paper trained it)",
    "model": "Model (defaults: the architecture's preset; --preset, --arch)",
    "run": "Run",
}


@dataclass(frozen=True)
class Knob:
    """One option of `hrm train` and the config field it sets."""

    section: str
    """"recipe" (a `Recipe` field), "model" (an architecture config's) or "run"
    (`TrainConfig`'s)."""
    field: str
    flag: str
    help: str
    default: str
    """What `--help` shows as the default."""
    type: click.ParamType | None
    is_flag: bool = False
    metavar: str | None = None

    @property
    def param(self) -> str:
        """The name click passes the value under."""
        return self.flag.removeprefix("--").replace("-", "_")

    def option(self) -> Callable[[Callable], Callable]:
        return click.option(self.flag, self.param, cls=SectionOption, section=self.section,
                            type=None if self.is_flag else self.type, is_flag=self.is_flag,
                            default=None, metavar=self.metavar or _metavar(self.type),
                            help=self.help, default_text=self.default)


class SectionOption(click.Option):
    """An option that knows which heading of `hrm train --help-all` it belongs under, and
    shows `default_text` as its default: what the unset option stands for."""

    def __init__(self, *args: Any, section: str = "", default_text: str = "",
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.section = section
        self.default_text = default_text

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        if record is None:
            return None
        # Instead of click's own suffix ("[default: None; x>=1]"): the metavar says enough.
        default = f" [{self.default_text}]" if self.default_text else ""
        return record[0], f"{self.help}{default}"


def _metavar(kind: click.ParamType | None) -> str | None:
    if isinstance(kind, click.IntRange) or kind is click.INT:
        return "INT"
    if isinstance(kind, click.FloatRange):
        return "FLOAT"
    return None


def _click_type(field: dataclasses.Field, least: int | None = None) -> click.ParamType:
    meta = field.metadata
    if "choices" in meta:
        return click.Choice(meta["choices"])
    kind = str(field.type).split("|")[0].strip()
    low = meta.get("min", least)
    if kind == "int":
        return click.INT if low is None and "max" not in meta else \
            click.IntRange(low, meta.get("max"))
    if kind == "float":
        if low is None and "max" not in meta:
            return click.FLOAT
        return click.FloatRange(low, meta.get("max"), min_open=meta.get("min_open", False),
                                max_open=meta.get("max_open", False))
    return click.STRING


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _by_value(values: dict[str, str]) -> dict[str, list[str]]:
    """The keys holding each value, in first-seen order."""
    groups: dict[str, list[str]] = {}
    for key, value in values.items():
        groups.setdefault(value, []).append(key)
    return groups


def _joined(values: dict[str, str], key_sep: str, label_sep: str, group_sep: str) -> str:
    """"a, b 1; c 2" from {a: 1, b: 1, c: 2}; just "1" when all agree."""
    groups = _by_value(values)
    if len(groups) == 1:
        return next(iter(groups))
    return group_sep.join(f"{key_sep.join(keys)}{label_sep}{value}"
                          for value, keys in groups.items())


def _recipe_default(name: str) -> str:
    """e.g. "sudoku/maze 1, arc 0.1", by architecture where they differ."""
    per_arch = {arch: _joined({t: _show(getattr(recipe_for(t, arch), name)) for t in TASKS},
                              "/", " ", ", ")
                for arch in CONFIGS}
    return _joined(per_arch, ", ", ": ", "; ")


def _model_default(name: str) -> str:
    """The value in each architecture's first preset (else the field's default)."""
    values = {}
    for arch, config in CONFIGS.items():
        defaults = {f.name: f.default for f in dataclasses.fields(config)}  # type: ignore[arg-type]
        if name in defaults:
            preset = next(iter(config.presets.values()))
            values[arch] = _show(preset.get(name, defaults[name]))
    return _joined(values, ", ", " ", "; ")


def recipe_knobs() -> list[Knob]:
    return [_knob("recipe", f, _recipe_default(f.name))
            for f in dataclasses.fields(Recipe) if "help" in f.metadata]


def model_knobs() -> list[Knob]:
    """One knob per field with help in any architecture's config (the first one's help)."""
    found: dict[str, Knob] = {}
    for config in CONFIGS.values():
        for f in dataclasses.fields(config):  # type: ignore[arg-type]
            if "help" in f.metadata and f.name not in found:
                least = 0 if f.name in _zero_allowed() else 1
                found[f.name] = _knob("model", f, _model_default(f.name), least)
    return list(found.values())


def _zero_allowed() -> set[str]:
    return {name for config in CONFIGS.values() for name in config._zero_allowed}


def run_knobs() -> list[Knob]:
    knobs = []
    for f in dataclasses.fields(TrainConfig):
        if "help" not in f.metadata:
            continue
        default = f.metadata.get("unset") if f.default is None else _show(f.default)
        knobs.append(_knob("run", f, "" if f.type == "bool" else default))
    return knobs


def _knob(section: str, field: dataclasses.Field, default: str | None,
          least: int | None = None) -> Knob:
    meta = field.metadata
    return Knob(section=section, field=field.name,
                flag=meta.get("flag", "--" + field.name.lower().replace("_", "-")),
                help=meta["help"], default=default or "", type=_click_type(field, least),
                is_flag=field.type == "bool", metavar=meta.get("metavar"))


KNOBS: dict[str, Knob] = {k.param: k for k in (*recipe_knobs(), *model_knobs(), *run_knobs())}
"""Every knob by the name click passes its value under."""
PRESETS = tuple(dict.fromkeys(p for c in CONFIGS.values() for p in c.presets))


def knob_options(section: str) -> Callable[[Callable], Callable]:
    """A decorator adding the options of one section's knobs, in field order."""
    def apply(function: Callable) -> Callable:
        for knob in reversed([k for k in KNOBS.values() if k.section == section]):
            function = knob.option()(function)
        return function

    return apply


def knob_values(options: dict[str, Any], section: str,
                names: Iterable[str] | None = None) -> dict[str, Any]:
    """{field: value} of a section's knobs that were given (not None), or of `names`."""
    chosen = set(options) if names is None else set(names)
    return {k.field: options[k.param] for k in KNOBS.values()
            if k.section == section and k.param in chosen and options.get(k.param) is not None}


def flag_of(param: str) -> str:
    knob = KNOBS.get(param)
    return knob.flag if knob else "--" + param.replace("_", "-")


def preset_default() -> str:
    """`--preset`'s default: each architecture's first preset."""
    return _joined({name: next(iter(c.presets)) for name, c in CONFIGS.items()}, ", ", " ", "; ")


__all__ = ["KNOBS", "PRESETS", "SECTIONS", "Knob", "SectionOption", "flag_of", "knob_options",
           "knob_values", "model_knobs", "preset_default", "recipe_knobs", "run_knobs"]
