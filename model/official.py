"""Import checkpoints of the original HRM release (sapientinc/HRM).

A release checkpoint is a folder with
- a `torch.save`d state dict (`checkpoint`, or `step_<N>` from the training script) whose
  keys start with `_orig_mod.model.inner.` (torch.compile wrapper, loss head, ACT wrapper);
- `all_config.yaml`, the training config; its `arch:` mapping holds the architecture.

What the YAML lacks is inferred from the tensors: vocab size (token embedding rows),
puzzle-identifier count and puzzle-embedding width (puzzle table shape), and, with learned
positions, the sequence length (position table rows minus the puzzle prefix). With RoPE
nothing stored depends on the sequence length, so it comes from `seq_len=`, else from
`seq_len_hint(data_path, vocab_size)`: the caller's knowledge of the release's tasks
(`hrm.datasets.tasks.release_seq_len` reads the task from the YAML's `data_path` or
the vocab size); this package knows no tasks.

Checkpoints are read with `torch.load(weights_only=True)` only: never arbitrary pickles.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from hrm.model.architectures import build_model
from hrm.model.checkpoint import load_state_dict_checked
from hrm.model.config import HRMConfig
from hrm.model.errors import CheckpointError
from hrm.model.hrm import HRM

CONFIG_NAME = "all_config.yaml"
KEY_PREFIXES = ("_orig_mod.", "model.", "inner.")

SeqLenHint = Callable[[Any, int], "int | None"]
"""(the YAML's data_path, vocab size) -> the sequence length of a RoPE checkpoint, or None."""

# all_config.yaml `arch:` keys that are HRMConfig fields under the same name.
ARCH_KEYS = ("H_cycles", "L_cycles", "H_layers", "L_layers", "hidden_size", "num_heads",
             "expansion", "pos_encodings", "puzzle_emb_ndim", "halt_max_steps",
             "halt_exploration_prob", "rms_norm_eps", "rope_theta")
REQUIRED_ARCH_KEYS = ("H_cycles", "L_cycles", "H_layers", "L_layers", "hidden_size",
                      "num_heads", "expansion", "pos_encodings", "halt_max_steps")


def import_official(path: str | Path, *, seq_len: int | None = None,
                    seq_len_hint: SeqLenHint | None = None, forward_dtype: str = "auto") -> HRM:
    """Build an `HRM` from an original-release checkpoint file or its folder.

    `seq_len`/`seq_len_hint` are only consulted for RoPE models (see the module docstring).
    Raises `CheckpointError` naming the file for anything missing or inconsistent.
    """
    ckpt_path, yaml_path = _locate(Path(path))
    arch = _read_arch(yaml_path)
    state = _load_state_dict(ckpt_path)

    hidden = arch["hidden_size"]
    if "embed_tokens.embedding_weight" not in state:
        raise CheckpointError(ckpt_path, "no embed_tokens.embedding_weight tensor: "
                              "not an HRM checkpoint")
    vocab_size = state["embed_tokens.embedding_weight"].shape[0]

    puzzle = state.get("puzzle_emb.weights")
    num_ids, ndim = (puzzle.shape[0], puzzle.shape[1]) if puzzle is not None else (1, 0)
    if "puzzle_emb_ndim" in arch and arch["puzzle_emb_ndim"] != ndim:
        raise CheckpointError(ckpt_path, f"{yaml_path.name} says puzzle_emb_ndim "
                              f"{arch['puzzle_emb_ndim']}, the puzzle table has width {ndim}")
    prefix_len = -(-ndim // hidden)

    positions = state.get("embed_pos.embedding_weight")
    learned = positions is not None
    if learned != (arch["pos_encodings"] == "learned"):
        raise CheckpointError(ckpt_path, f"{yaml_path.name} says pos_encodings "
                              f"{arch['pos_encodings']!r} but the position table is "
                              f"{'present' if learned else 'absent'}")
    if positions is not None:
        inferred = positions.shape[0] - prefix_len
        if seq_len is not None and seq_len != inferred:
            raise CheckpointError(ckpt_path, f"seq_len {seq_len} given, the learned position "
                                  f"table holds {inferred} token positions")
        seq_len = inferred
    elif seq_len is None:
        seq_len = seq_len_hint(arch.get("_data_path"), vocab_size) if seq_len_hint else None
        if seq_len is None:
            raise CheckpointError(ckpt_path, "RoPE checkpoint: the sequence length is not "
                                  "stored; pass seq_len= (its number of tokens)")

    fields = {k: arch[k] for k in ARCH_KEYS if k in arch}
    fields.update(vocab_size=vocab_size, seq_len=seq_len, num_puzzle_identifiers=num_ids,
                  puzzle_emb_ndim=ndim, forward_dtype=forward_dtype)
    try:
        config = HRMConfig(**fields)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(yaml_path, f"invalid architecture: {exc}") from None

    model = build_model(config, initialise=False)  # every weight comes from the checkpoint
    load_state_dict_checked(model, state, ckpt_path)
    return model.eval()


def read_official_config(path: str | Path) -> dict[str, Any]:
    """The parsed `all_config.yaml` next to (or inside) `path`, as plain Python data."""
    _, yaml_path = _locate(Path(path))
    return _read_yaml(yaml_path)


# ----------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------
def _locate(path: Path) -> tuple[Path, Path]:
    """(checkpoint file, all_config.yaml) for a checkpoint file or its folder."""
    if path.is_dir():
        folder = path
        ckpt = folder / "checkpoint"
        if not ckpt.is_file():
            # A training run's folder: take the latest `step_<N>`.
            steps = [p for p in folder.glob("step_*") if re.fullmatch(r"step_\d+", p.name)]
            if not steps:
                raise CheckpointError(folder, "no `checkpoint` or `step_<N>` file in folder")
            ckpt = max(steps, key=lambda p: int(p.name[5:]))
    elif path.is_file():
        ckpt, folder = path, path.parent
    else:
        raise CheckpointError(path, "no such file or folder")
    yaml_path = folder / CONFIG_NAME
    if not yaml_path.is_file():
        raise CheckpointError(yaml_path, "missing (the original writes it next to each "
                              "checkpoint; it holds the architecture)")
    return ckpt, yaml_path


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad files; all mean "unreadable"
        message = str(exc).split("\n")[0][:200]
        raise CheckpointError(path, f"not a readable weights-only PyTorch checkpoint "
                              f"({type(exc).__name__}: {message})") from None
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in raw.items()
    ):
        raise CheckpointError(path, "expected a state dict (a mapping of names to tensors)")
    state: dict[str, torch.Tensor] = {}
    for key, tensor in raw.items():
        name = key
        # torch.compile adds `_orig_mod.`, the loss head `model.`, the ACT wrapper `inner.`.
        for prefix in KEY_PREFIXES:
            name = name.removeprefix(prefix)
        state[name] = tensor
    return state


def _read_arch(yaml_path: Path) -> dict[str, Any]:
    config = _read_yaml(yaml_path)
    arch = config.get("arch")
    if not isinstance(arch, dict):
        raise CheckpointError(yaml_path, "no `arch:` mapping")
    name = arch.get("name")
    if name is not None and "hrm_act_v1" not in str(name):
        raise CheckpointError(yaml_path, f"unsupported architecture {name!r} "
                              "(only hrm_act_v1 is known)")
    missing = [k for k in REQUIRED_ARCH_KEYS if k not in arch]
    if missing:
        raise CheckpointError(yaml_path, f"arch is missing {', '.join(missing)}")
    arch = dict(arch)
    arch["_data_path"] = config.get("data_path")
    return arch


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(path, f"cannot read ({exc})") from None
    try:
        data = parse_simple_yaml(text)
    except ValueError as exc:
        raise CheckpointError(path, str(exc)) from None
    if not isinstance(data, dict):
        raise CheckpointError(path, "expected a YAML mapping at the top level")
    return data


# ----------------------------------------------------------------------------------------
# A tiny YAML subset reader (all_config.yaml is written by yaml.dump / OmegaConf)
# ----------------------------------------------------------------------------------------
_INT = re.compile(r"[-+]?(0|[1-9][0-9_]*)")
_FLOAT = re.compile(r"[-+]?(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?")


def parse_simple_yaml(text: str) -> Any:
    """Parse block mappings, block lists of scalars, flow lists and plain scalars.

    Enough for the original's `all_config.yaml`; anchors, multi-line strings and nested
    flow collections are rejected with ValueError ("line N: ...").
    """
    lines: list[tuple[int, int, str]] = []  # (line number, indent, content)
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.strip() in ("---", "..."):
            continue
        content = _strip_comment(raw).rstrip()
        if not content.strip():
            continue
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise ValueError(f"line {number}: tabs are not allowed for indentation")
        lines.append((number, len(content) - len(content.lstrip()), content.strip()))
    if not lines:
        return {}
    value, end = _parse_block(lines, 0, lines[0][1])
    if end != len(lines):
        raise ValueError(f"line {lines[end][0]}: unexpected indentation")
    return value


def _parse_block(lines: list[tuple[int, int, str]], i: int, indent: int) -> tuple[Any, int]:
    if lines[i][2] == "-" or lines[i][2].startswith("- "):
        return _parse_list(lines, i, indent)
    result: dict[str, Any] = {}
    while i < len(lines) and lines[i][1] == indent:
        number, _, content = lines[i]
        key, sep, rest = content.partition(":")
        if not sep or (rest and not rest.startswith(" ")) or not key.strip():
            raise ValueError(f"line {number}: expected `key: value`")
        key = _parse_scalar(key.strip(), number)
        i += 1
        if rest.strip():
            result[str(key)] = _parse_scalar(rest.strip(), number)
        elif i < len(lines) and lines[i][1] > indent:
            result[str(key)], i = _parse_block(lines, i, lines[i][1])
        elif i < len(lines) and lines[i][1] == indent and lines[i][2].startswith("-"):
            result[str(key)], i = _parse_list(lines, i, indent)  # `key:\n- a` (yaml.dump)
        else:
            result[str(key)] = None
    if i < len(lines) and lines[i][1] > indent:
        raise ValueError(f"line {lines[i][0]}: unexpected indentation")
    return result, i


def _parse_list(lines: list[tuple[int, int, str]], i: int, indent: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    while i < len(lines) and lines[i][1] == indent and (
        lines[i][2] == "-" or lines[i][2].startswith("- ")
    ):
        number, _, content = lines[i]
        item = content[1:].strip()
        if not item or (":" in item and not item.startswith(("'", '"', "["))):
            raise ValueError(f"line {number}: only lists of plain values are supported")
        items.append(_parse_scalar(item, number))
        i += 1
    return items, i


def _parse_scalar(token: str, number: int) -> Any:
    if token.startswith(("&", "*", "!", "|", ">", "{")) and token != "{}":
        raise ValueError(f"line {number}: unsupported YAML syntax {token!r}")
    if token == "{}":
        return {}
    if token.startswith("["):
        if not token.endswith("]"):
            raise ValueError(f"line {number}: unterminated list")
        inner = token[1:-1].strip()
        if "[" in inner or "{" in inner:
            raise ValueError(f"line {number}: nested flow collections are not supported")
        return [_parse_scalar(part.strip(), number) for part in inner.split(",")] if inner else []
    if token.startswith('"'):
        try:
            return json.loads(token)  # YAML double-quoted escapes are JSON's for our needs
        except json.JSONDecodeError:
            raise ValueError(f"line {number}: bad double-quoted string") from None
    if token.startswith("'"):
        if len(token) < 2 or not token.endswith("'"):
            raise ValueError(f"line {number}: bad single-quoted string")
        return token[1:-1].replace("''", "'")
    lowered = token.lower()
    if lowered in ("null", "~"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in (".inf", "+.inf", "-.inf", ".nan"):
        return float(lowered.replace(".", ""))
    if _INT.fullmatch(token):
        return int(token.replace("_", ""))
    if _FLOAT.fullmatch(token) and any(c.isdigit() for c in token):
        return float(token.replace("_", ""))
    return token


def _strip_comment(line: str) -> str:
    """Drop a `#` comment (at line start or after whitespace) outside quotes."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index]
    return line

