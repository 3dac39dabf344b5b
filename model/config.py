"""Architecture configurations and their named size presets.

`ModelConfig` is what every architecture's config shares: a dataclass of plain fields
that round-trips through JSON (`to_dict` records the architecture's `name`), named
presets, and the activation dtype. `HRMConfig` is HRM ACT v1's; its field names follow the
original release (`H_cycles`, `L_layers`, ...) so that its `all_config.yaml` maps onto it
one to one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

import torch

POS_ENCODINGS = ("rope", "learned")
FORWARD_DTYPES = ("auto", "float32", "bfloat16", "float16")
GRADIENTS = ("one-step", "last-cycle", "full")
HALTINGS = ("q-learning", "halt-only")

C = TypeVar("C", bound="ModelConfig")
_FLOAT = (int, float)
_TYPES: dict[str, Any] = {"int": int, "float": _FLOAT, "str": str}
_TYPE_NAMES = {int: "an integer", _FLOAT: "a number", str: "a string"}


class ModelConfig:
    """Shared behaviour of architecture configs (dataclasses of int, float and str fields).

    A subclass sets `name` (the architecture's name in bundles and run configs) and
    `presets` (architecture-only field sets, combined with the task's fields).
    """

    name: ClassVar[str]
    presets: ClassVar[dict[str, dict[str, Any]]]
    vocab_size: int
    seq_len: int
    forward_dtype: str
    halt_max_steps: int
    halt_exploration_prob: float
    halting: str
    gradient: str
    expansion: float

    def resolve_dtype(self, device: torch.device) -> torch.dtype:
        """The activation dtype on `device` (resolves "auto")."""
        if self.forward_dtype == "auto":
            return torch.bfloat16 if device.type == "cuda" else torch.float32
        return getattr(torch, self.forward_dtype)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **dataclasses.asdict(self)}  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        """Build from a plain dict, rejecting unknown fields and wrong types (ValueError).

        `name`, when present, must be this architecture's; a dict without one is taken as
        this architecture (bundles written before architectures had names are HRM)."""
        data = dict(data)
        name = data.pop("name", cls.name)
        if name != cls.name:
            raise ValueError(f"architecture {name!r} is not {cls.name!r}")
        known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown config field(s): {', '.join(unknown)}")
        missing = [n for n, f in known.items() if n not in data
                   and f.default is dataclasses.MISSING]
        if missing:
            raise ValueError(f"missing config field(s): {', '.join(missing)}")
        values: dict[str, Any] = {}
        for field_name, value in data.items():
            expected = _TYPES[str(known[field_name].type)]
            # bool is an int in Python; a JSON `true` is never a valid size.
            if isinstance(value, bool) or not isinstance(value, expected):
                raise ValueError(f"config field {field_name} must be {_TYPE_NAMES[expected]}, "
                                 f"got {value!r}")
            values[field_name] = float(value) if expected is _FLOAT else value
        return cls(**values)

    @classmethod
    def from_preset(cls: type[C], name: str, **fields_: Any) -> C:
        """A preset's architecture plus task fields (vocab_size, seq_len, ...) and overrides."""
        if name not in cls.presets:
            raise ValueError(f"unknown preset {name!r}; choose from {', '.join(cls.presets)}")
        return cls(**{**cls.presets[name], **fields_})

    # Int fields that may be 0 (all others must be at least 1).
    _zero_allowed: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            # YAML and JSON write 4 for 4.0: store floats as floats so configs compare equal.
            if str(f.type) == "float" and isinstance(value, int) and not isinstance(value, bool):
                setattr(self, f.name, float(value))
            if str(f.type) == "int":
                least = 0 if f.name in self._zero_allowed else 1
                if value < least:
                    raise ValueError(f"{f.name} must be at least {least}, got {value}")
        if self.gradient not in GRADIENTS:
            raise ValueError(f"gradient must be one of {GRADIENTS}, got {self.gradient!r}")
        if self.halting not in HALTINGS:
            raise ValueError(f"halting must be one of {HALTINGS}, got {self.halting!r}")
        if self.forward_dtype not in FORWARD_DTYPES:
            raise ValueError(f"forward_dtype must be one of {FORWARD_DTYPES}, "
                             f"got {self.forward_dtype!r}")
        if not 0.0 <= self.halt_exploration_prob <= 1.0:
            raise ValueError("halt_exploration_prob must be in [0, 1]")
        if self.expansion <= 0:
            raise ValueError(f"expansion must be positive, got {self.expansion}")


@dataclass
class HRMConfig(ModelConfig):
    """Everything needed to build an `HRM` (and nothing about training or data loading).

    Task-dependent fields come first; they have no defaults because they come from the
    dataset (`dataset.json`) or, for an imported checkpoint, from its tensor shapes.
    """

    name: ClassVar[str] = "hrm"
    _zero_allowed: ClassVar[tuple[str, ...]] = ("puzzle_emb_ndim",)

    # --- task-dependent ---------------------------------------------------------------
    vocab_size: int
    """Number of token ids (0 = pad). Sudoku 11, maze 6, ARC 12."""
    seq_len: int
    """Tokens per puzzle, excluding the puzzle-embedding prefix. Sudoku 81, maze/ARC 900."""
    num_puzzle_identifiers: int = 1
    """Rows of the puzzle-embedding table (identifier 0 is the blank identifier)."""

    # --- architecture -------------------------------------------------------------------
    puzzle_emb_ndim: int = 512
    """Width of a puzzle embedding; 0 disables it. Prepended as ceil(ndim / hidden)
    positions, zero-padded to a whole number of positions."""
    hidden_size: int = 512
    """Model width shared by both levels."""
    num_heads: int = 8
    """Attention heads; head_dim = hidden_size // num_heads."""
    expansion: float = 4.0
    """SwiGLU inner size = round(expansion * hidden * 2/3), rounded up to a multiple of 256."""
    H_layers: int = 4
    """Transformer blocks in the slow, high-level module H."""
    L_layers: int = 4
    """Transformer blocks in the fast, low-level module L."""
    H_cycles: int = 2
    """H updates per segment."""
    L_cycles: int = 2
    """L updates per H update."""
    pos_encodings: str = "rope"
    """"rope" (rotary, nothing stored) or "learned" (a table of seq_len + prefix rows)."""
    rope_theta: float = 10000.0
    """RoPE base frequency."""
    rms_norm_eps: float = 1e-5
    """Epsilon of the weightless RMSNorm after every residual add."""
    gradient: str = "one-step"
    """Training only: which updates of a segment are backpropagated. "one-step": the final
    L and H updates (the paper's one-step approximation); "last-cycle": the last H cycle,
    its L_cycles L updates and its H update (as TRM); "full": every update of the segment.
    Earlier segments are never backpropagated (their state is carried detached)."""

    # --- adaptive computation time (ACT) ----------------------------------------------
    halt_max_steps: int = 16
    """Segments a sequence may run in training; the default evaluation budget."""
    halt_exploration_prob: float = 0.1
    """Training only: probability that a sequence must run at least randint[2, max] segments."""
    halting: str = "q-learning"
    """How the Q head learns when to stop. "q-learning" (the paper's): q_halt learns whether
    the answer is right, q_continue the value of running one more segment, from an extra
    no-grad forward per training step; a sequence halts when q_halt > q_continue.
    "halt-only" (TRM's simplification): q_continue is fixed at 0 and has no loss, so a
    sequence halts when sigmoid(q_halt) > 0.5, and training skips the extra forward (a
    quarter of a step's FLOPs with --gradient full, over a third with one-step)."""

    # --- numerics -------------------------------------------------------------------------
    forward_dtype: str = "auto"
    """Dtype of activations and of the recurrent state: "auto" = bfloat16 when the weights
    are on a CUDA device, float32 otherwise. Weights stay float32 and are cast per use, as
    in the original (which defaults to bfloat16 everywhere)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}"
            )
        if self.pos_encodings not in POS_ENCODINGS:
            raise ValueError(f"pos_encodings must be one of {POS_ENCODINGS}, "
                             f"got {self.pos_encodings!r}")
        if self.pos_encodings == "rope" and self.head_dim % 2:
            raise ValueError(f"RoPE needs an even head_dim, got {self.head_dim}")

    # --- derived sizes ----------------------------------------------------------------------
    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def puzzle_emb_len(self) -> int:
        """Number of prefix positions the puzzle embedding occupies (ceil division)."""
        return -(-self.puzzle_emb_ndim // self.hidden_size)

    @property
    def total_len(self) -> int:
        """Positions the transformer sees: puzzle-embedding prefix + tokens."""
        return self.seq_len + self.puzzle_emb_len

    @property
    def mlp_inner_size(self) -> int:
        # 2/3 keeps SwiGLU's parameter count equal to a plain MLP with the same expansion;
        # rounding up to 256 keeps matmuls aligned (both as in the original).
        inner = round(self.expansion * self.hidden_size * 2 / 3)
        return -(-inner // 256) * 256


# Architecture-only presets: combine with task fields via `HRMConfig.from_preset`.
PRESETS: dict[str, dict[str, Any]] = {
    # The paper's model (27.3M parameters for Sudoku): config/arch/hrm_v1.yaml.
    "paper": dict(hidden_size=512, num_heads=8, expansion=4.0, H_layers=4, L_layers=4,
                  H_cycles=2, L_cycles=2, puzzle_emb_ndim=512, halt_max_steps=16,
                  halt_exploration_prob=0.1, pos_encodings="rope"),
    # About 3.4M parameters: quick single-GPU experiments, same recurrence as the paper.
    "small": dict(hidden_size=256, num_heads=4, expansion=4.0, H_layers=2, L_layers=2,
                  H_cycles=2, L_cycles=2, puzzle_emb_ndim=256, halt_max_steps=16,
                  halt_exploration_prob=0.1, pos_encodings="rope"),
    # For unit tests and CPU smoke runs: every code path, a few thousand FLOPs per token.
    "tiny": dict(hidden_size=32, num_heads=2, expansion=2.0, H_layers=1, L_layers=1,
                 H_cycles=2, L_cycles=2, puzzle_emb_ndim=32, halt_max_steps=4,
                 halt_exploration_prob=0.1, pos_encodings="rope"),
}

HRMConfig.presets = PRESETS
