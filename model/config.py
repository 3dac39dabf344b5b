"""Every architecture's configuration and its named size presets, without torch.

`ModelConfig` is what every architecture's config shares: a dataclass of plain fields
that round-trips through JSON (`to_dict` records the architecture's `name`), named
presets, and the activation dtype. `HRMConfig` is HRM ACT v1's; its field names follow the
original release (`H_cycles`, `L_layers`, ...) so that its `all_config.yaml` maps onto it
one to one.

Nothing here imports torch, so that `hrm train --help` can show the true defaults of the
model knobs (and the run config can be read) without loading it. Fields that are
`hrm train` options carry their help in `metadata` (see `hrm_cli.knobs`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

POS_ENCODINGS = ("rope", "learned")
FORWARD_DTYPES = ("auto", "float32", "bfloat16", "float16")
GRADIENTS = ("one-step", "last-cycle", "full")
HALTINGS = ("q-learning", "halt-only")
TRM_MIXERS = ("attention", "mlp")
TRM_POS_ENCODINGS = ("rope", "learned", "none")
GRID_MIXERS = ("conv3", "dwconv3", "natt3")

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

    def dtype_name(self, device_type: str) -> str:
        """The activation dtype's name on a device of `device_type` ("auto" resolved)."""
        if self.forward_dtype == "auto":
            return "bfloat16" if device_type == "cuda" else "float32"
        return self.forward_dtype

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
    dataset (`dataset.json`) or, for an imported checkpoint, from its tensor shapes. Fields
    with `metadata["help"]` are `hrm train` options, for every architecture that has them.
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
    puzzle_emb_ndim: int = field(default=512, metadata={
        "help": "Puzzle-embedding width; 0 disables it."})
    """Width of a puzzle embedding; 0 disables it. Prepended as ceil(ndim / hidden)
    positions, zero-padded to a whole number of positions."""
    hidden_size: int = field(default=512, metadata={
        "help": "Width of both levels."})
    """Model width shared by both levels."""
    num_heads: int = field(default=8, metadata={
        "help": "Attention heads."})
    """Attention heads; head_dim = hidden_size // num_heads."""
    expansion: float = field(default=4.0, metadata={
        "help": "SwiGLU expansion.", "min": 0, "min_open": True})
    """SwiGLU inner size = round(expansion * hidden * 2/3), rounded up to a multiple of 256."""
    H_layers: int = field(default=4, metadata={
        "help": "Blocks of the slow module H."})
    """Transformer blocks in the slow, high-level module H."""
    L_layers: int = field(default=4, metadata={
        "help": "Blocks of the fast module L (TRM: of its one network)."})
    """Transformer blocks in the fast, low-level module L."""
    H_cycles: int = field(default=2, metadata={
        "help": "H updates per segment (TRM: T, recursions)."})
    """H updates per segment."""
    L_cycles: int = field(default=2, metadata={
        "help": "L updates per H update (TRM: n, latent updates)."})
    """L updates per H update."""
    pos_encodings: str = field(default="rope", metadata={
        "help": "Rotary (nothing stored) or a learned table per position.",
        "choices": POS_ENCODINGS})
    """"rope" (rotary, nothing stored) or "learned" (a table of seq_len + prefix rows)."""
    rope_theta: float = 10000.0
    """RoPE base frequency."""
    rms_norm_eps: float = 1e-5
    """Epsilon of the weightless RMSNorm after every residual add."""
    gradient: str = field(default="one-step", metadata={
        "help": "Updates of a segment to backpropagate: the final L and H ones (one-step, "
                "the paper's), the last H cycle (last-cycle, as TRM) or all (full; more "
                "compute per step).", "choices": GRADIENTS})
    """Training only: which updates of a segment are backpropagated. "one-step": the final
    L and H updates (the paper's one-step approximation); "last-cycle": the last H cycle,
    its L_cycles L updates and its H update (as TRM); "full": every update of the segment.
    Earlier segments are never backpropagated (their state is carried detached)."""

    # --- adaptive computation time (ACT) ----------------------------------------------
    halt_max_steps: int = field(default=16, metadata={
        "help": "ACT: most segments per puzzle."})
    """Segments a sequence may run in training; the default evaluation budget."""
    halt_exploration_prob: float = field(default=0.1, metadata={
        "help": "ACT: exploration probability.", "min": 0, "max": 1})
    """Training only: probability that a sequence must run at least randint[2, max] segments."""
    halting: str = field(default="q-learning", metadata={
        "help": "ACT: how the Q head learns to stop: q-learning (the paper's; an "
                "extra forward per step for the continue target) or halt-only (TRM's: stop "
                "once sigmoid(q_halt) > 0.5; a quarter fewer FLOPs per step with --gradient "
                "full).", "choices": HALTINGS})
    """How the Q head learns when to stop. "q-learning" (the paper's): q_halt learns whether
    the answer is right, q_continue the value of running one more segment, from an extra
    no-grad forward per training step; a sequence halts when q_halt > q_continue.
    "halt-only" (TRM's simplification): q_continue is fixed at 0 and has no loss, so a
    sequence halts when sigmoid(q_halt) > 0.5, and training skips the extra forward (a
    quarter of a step's FLOPs with --gradient full, over a third with one-step)."""

    # --- numerics -------------------------------------------------------------------------
    forward_dtype: str = field(default="auto", metadata={
        "flag": "--dtype", "help": "Activation dtype; auto: bfloat16 on GPUs, float32 on "
                "the CPU. bfloat16 also pays on CPUs with AMX (Sapphire Rapids and later).",
        "choices": FORWARD_DTYPES})
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


@dataclass
class TRMConfig(ModelConfig):
    """Everything needed to build a `TRM`; defaults are the paper's (config/arch/trm.yaml
    of the authors' code)."""

    name: ClassVar[str] = "trm"
    _zero_allowed: ClassVar[tuple[str, ...]] = ("puzzle_emb_ndim", "puzzle_emb_len")

    # --- task-dependent ---------------------------------------------------------------
    vocab_size: int
    """Number of token ids (0 = pad). Sudoku 11, maze 6, ARC 12."""
    seq_len: int
    """Tokens per puzzle, excluding the puzzle-embedding prefix."""
    num_puzzle_identifiers: int = 1
    """Rows of the puzzle-embedding table (identifier 0 is the blank identifier)."""

    # --- architecture -------------------------------------------------------------------
    puzzle_emb_ndim: int = 512
    """Width of a puzzle embedding (the paper: hidden_size); 0 disables it."""
    puzzle_emb_len: int = 16
    """Prefix positions the puzzle embedding occupies, zero-padded (the paper: 16); 0 means
    ceil(puzzle_emb_ndim / hidden_size), as HRM. No prefix without a puzzle embedding."""
    hidden_size: int = 512
    """Width of y, z and the network."""
    num_heads: int = 8
    """Attention heads (mixer "attention"); head_dim = hidden_size // num_heads."""
    expansion: float = 4.0
    """SwiGLU expansion, for the channel MLP and the position MLP alike: inner size =
    round(expansion * width * 2/3) rounded up to a multiple of 256."""
    L_layers: int = 2
    """Blocks of the one network (the paper: 2; "less is more")."""
    H_cycles: int = 3
    """T: recursions per segment, each n latent updates and one answer update."""
    L_cycles: int = 6
    """n: latent updates z = net(z + y + x) per recursion (the paper: 6 for Sudoku, 4 for
    mazes and ARC)."""
    mixer: str = "attention"
    """How a block mixes positions: "attention" (self-attention) or "mlp" (a SwiGLU across
    the positions, for small fixed-size grids; the paper's Sudoku model)."""
    pos_encodings: str = "rope"
    """"rope", "learned" (a table of positions) or "none" (what the MLP mixer uses)."""
    rope_theta: float = 10000.0
    """RoPE base frequency."""
    rms_norm_eps: float = 1e-5
    """Epsilon of the weightless RMSNorm after every residual add."""
    gradient: str = "last-cycle"
    """Training only: which updates of a segment are backpropagated. "last-cycle" (the
    paper's): the whole last recursion, its n latent updates and the answer update;
    "one-step": the last latent and answer updates only (HRM's approximation);
    "full": all T recursions."""

    # --- adaptive computation time (ACT) ----------------------------------------------
    halt_max_steps: int = 16
    """N_sup: supervision steps (segments) a puzzle may run in training; the default
    evaluation budget."""
    halt_exploration_prob: float = 0.1
    """Training only: probability that a puzzle must run at least randint[2, max] segments."""
    halting: str = "halt-only"
    """How the Q head learns when to stop (as `HRMConfig.halting`). The paper's
    "halt-only": q_halt learns whether the answer is right and a puzzle halts once
    sigmoid(q_halt) > 0.5; "q-learning" adds HRM's continue target (an extra forward)."""

    # --- numerics -------------------------------------------------------------------------
    forward_dtype: str = "auto"
    """Activation dtype: "auto" = bfloat16 on CUDA, float32 elsewhere."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mixer not in TRM_MIXERS:
            raise ValueError(f"mixer must be one of {TRM_MIXERS}, got {self.mixer!r}")
        if self.pos_encodings not in TRM_POS_ENCODINGS:
            raise ValueError(f"pos_encodings must be one of {TRM_POS_ENCODINGS}, "
                             f"got {self.pos_encodings!r}")
        if self.mixer == "attention":
            if self.hidden_size % self.num_heads:
                raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of "
                                 f"num_heads {self.num_heads}")
            if self.pos_encodings == "rope" and self.head_dim % 2:
                raise ValueError(f"RoPE needs an even head_dim, got {self.head_dim}")
        elif self.pos_encodings == "rope":
            raise ValueError('the MLP mixer has no attention to rotate: use pos_encodings '
                             '"none" or "learned"')
        if self.puzzle_emb_len and self.puzzle_emb_len * self.hidden_size < self.puzzle_emb_ndim:
            raise ValueError(f"puzzle_emb_len {self.puzzle_emb_len} x hidden_size "
                             f"{self.hidden_size} cannot hold puzzle_emb_ndim "
                             f"{self.puzzle_emb_ndim}")

    # --- derived sizes ----------------------------------------------------------------------
    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def prefix_len(self) -> int:
        """Positions the puzzle embedding occupies before the tokens."""
        if self.puzzle_emb_ndim == 0:
            return 0
        return self.puzzle_emb_len or -(-self.puzzle_emb_ndim // self.hidden_size)

    @property
    def total_len(self) -> int:
        """Positions the network sees: puzzle-embedding prefix + tokens."""
        return self.seq_len + self.prefix_len


@dataclass
class TRMMLPConfig(TRMConfig):
    """TRM with the MLP mixer: the paper's Sudoku model (TRM-MLP), as its own name."""

    name: ClassVar[str] = "trm-mlp"
    mixer: str = "mlp"
    pos_encodings: str = "none"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mixer != "mlp":
            raise ValueError(f"trm-mlp mixes positions with an MLP; mixer {self.mixer!r} "
                             "is the trm architecture")


_PAPER = dict(hidden_size=512, num_heads=8, expansion=4.0, L_layers=2, H_cycles=3,
              L_cycles=6, puzzle_emb_ndim=512, puzzle_emb_len=16, halt_max_steps=16,
              halt_exploration_prob=0.1)
TRMConfig.presets = {
    # The paper's TRM-Att (config/arch/trm.yaml): ~7M parameters.
    "paper": dict(_PAPER, mixer="attention", pos_encodings="rope"),
    # Half the width: quick single-GPU and CPU experiments, the same recursion.
    "small": dict(_PAPER, hidden_size=256, num_heads=4, puzzle_emb_ndim=256),
    # Tests and smoke runs: every code path, a few thousand FLOPs per token.
    "tiny": dict(hidden_size=32, num_heads=2, expansion=2.0, L_layers=2, H_cycles=2,
                 L_cycles=2, puzzle_emb_ndim=32, puzzle_emb_len=2, halt_max_steps=4,
                 halt_exploration_prob=0.1, mixer="attention", pos_encodings="rope"),
}
TRMMLPConfig.presets = {
    name: dict(fields, mixer="mlp", pos_encodings="none")
    for name, fields in TRMConfig.presets.items()
}


@dataclass
class GridHRMConfig(ModelConfig):
    """Everything needed to build a `GridHRM`."""

    name: ClassVar[str] = "grid-hrm"

    vocab_size: int
    """Number of token ids (0 = pad, which also marks cells outside the grid)."""
    seq_len: int
    """Cells of the training canvas (side * side); any square grid runs at inference."""
    num_puzzle_identifiers: int = 1
    """Kept for the shared data pipeline; a grid model has no puzzle embedding."""
    hidden_size: int = 64
    """Channels of the state at every cell."""
    expansion: float = 2.0
    """SwiGLU inner size = round(expansion * hidden * 2/3), rounded up to a multiple of 32."""
    mixer: str = field(default="conv3", metadata={
        "help": "How a block mixes positions. grid-hrm: a cell with its 3x3 "
                "neighbourhood, by a full convolution (conv3), a depthwise one (dwconv3) or "
                "attention with a bias per relative offset (natt3); trm: attention or mlp "
                "(= trm-mlp).", "choices": (*TRM_MIXERS, *GRID_MIXERS)})
    """How a block mixes neighbouring cells: "conv3", a full 3x3 convolution;
    "dwconv3", a depthwise 3x3 convolution (cheaper; channels mix in the MLP only);
    "natt3", attention over each cell's 3x3 neighbourhood with a learned bias per head for
    each of the 9 relative 2D offsets."""
    num_heads: int = 4
    """Attention heads of the "natt3" mixer (head_dim = hidden_size // num_heads)."""
    H_layers: int = 2
    """Blocks in the slow module H."""
    L_layers: int = 2
    """Blocks in the fast module L."""
    H_cycles: int = 2
    """H updates per segment."""
    L_cycles: int = 2
    """L updates per H update."""
    rms_norm_eps: float = 1e-5
    """Epsilon of the weightless RMSNorm after every residual add."""
    gradient: str = "one-step"
    """Which updates of a segment are backpropagated (as `HRMConfig.gradient`)."""
    halt_max_steps: int = 16
    """Segments a grid may run in training; the default evaluation budget."""
    halt_exploration_prob: float = 0.1
    """Training only: probability that a grid must run at least randint[2, max] segments."""
    halting: str = "halt-only"
    """How the Q head learns when to stop (as `HRMConfig.halting`)."""
    forward_dtype: str = "auto"
    """Activation dtype: "auto" = bfloat16 on CUDA, float32 elsewhere."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mixer not in GRID_MIXERS:
            raise ValueError(f"mixer must be one of {GRID_MIXERS}, got {self.mixer!r}")
        if math.isqrt(self.seq_len) ** 2 != self.seq_len:
            raise ValueError(f"seq_len must be a square number of cells, got {self.seq_len}")
        if self.num_heads < 1 or self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} must be a multiple of "
                             f"num_heads {self.num_heads}")

    @property
    def mlp_inner_size(self) -> int:
        inner = round(self.expansion * self.hidden_size * 2 / 3)
        return -(-inner // 32) * 32

    @property
    def cells_per_segment(self) -> int:
        """How far (in cells) information can travel in one segment: one cell per block."""
        return self.H_cycles * (self.L_cycles * self.L_layers + self.H_layers)


GridHRMConfig.presets = {
    # The CPU maze model: ~160k parameters, 16 cells of reach per segment.
    "small": dict(hidden_size=64, expansion=2.0, H_layers=2, L_layers=2, H_cycles=2,
                  L_cycles=3, halt_max_steps=16),
    # Tests and smoke runs.
    "tiny": dict(hidden_size=16, expansion=2.0, H_layers=1, L_layers=1, H_cycles=2,
                 L_cycles=2, halt_max_steps=4),
}


CONFIGS: dict[str, type[ModelConfig]] = {c.name: c for c in (
    HRMConfig, GridHRMConfig, TRMConfig, TRMMLPConfig)}
"""Each architecture's config by its name; `hrm.model.architectures` pairs them with models."""
DEFAULT_ARCHITECTURE = "hrm"  # what a config without a name is (bundles predating names)


def config_class(name: str) -> type[ModelConfig]:
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; "
                         f"choose from {', '.join(CONFIGS)}") from None


def config_from_dict(data: Mapping[str, Any]) -> ModelConfig:
    """The config of the architecture `data["name"]` names (HRM without a name)."""
    name = data.get("name", DEFAULT_ARCHITECTURE)
    if not isinstance(name, str):
        raise ValueError(f"architecture name must be a string, got {name!r}")
    return config_class(name).from_dict(dict(data))
