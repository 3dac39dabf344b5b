"""The model side of `hrm watch`: load a model as `hrm solve` does, record rollouts.

Imports torch: the app imports this module inside its worker thread, so the window is up
(showing the puzzle and "loading the model") while torch and the weights load.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from hrm.datasets.errors import PuzzleParseError
from hrm.datasets.tasks import Puzzle
from hrm.inference.continuous import stack_tokens
from hrm.inference.solver import Solver, load_solver
from hrm_cli.tui.trace import Segment, make_segment


class Engine:
    """A loaded model for one task; `rollout` yields every puzzle's segments as computed.

    The `Solver` of `hrm solve` does the encoding, the model check and the puzzle
    identifiers, so both commands accept exactly the same puzzles and models.
    """

    def __init__(self, solver: Solver, name: str, max_segments: int | None = None):
        self.solver = solver
        self.task = solver.task
        self.name = name
        self.device = str(solver.model.device)
        self.halt = solver.halt
        self.halting = solver.model.config.halting
        self.max_segments = max_segments
        self.budget = max_segments or solver.model.config.halt_max_steps

    @property
    def fixed_budget(self) -> int | None:
        """The one budget of every puzzle; None when it grows with each maze's size."""
        return None if self.solver.model.any_size and not self.max_segments else self.budget

    def budget_for(self, puzzle: Puzzle) -> int:
        """The segments `puzzle` may run: `max_segments`, else what the model's size rule
        gives (the trained maximum, more for a large maze on a grid model)."""
        if self.max_segments:
            return self.max_segments
        try:
            cells = self.solver.encode(puzzle).size
        except PuzzleParseError:  # it does not fit: the list says so, the budget is moot
            return self.budget
        return self.solver.model.default_segments(cells)

    def check(self, puzzle: Puzzle) -> None:
        self.solver.encode(puzzle)  # PuzzleParseError when it does not fit the model

    def rollout(self, puzzles: Sequence[Puzzle]) -> Iterator[tuple[int, Segment]]:
        model = self.solver.model
        tokens = stack_tokens([self.solver.encode(p) for p in puzzles])
        inputs = torch.from_numpy(tokens).to(model.device)
        ids = torch.tensor([self.solver.identifier(p) for p in puzzles], dtype=torch.long,
                           device=model.device)
        previous: list[Segment | None] = [None] * len(puzzles)
        def accept(row: int, tokens: np.ndarray) -> bool:
            return self.solver.accepts(puzzles[row], tokens)

        for step in model.rollout(inputs, ids,
                                   halt=self.solver.rollout_halt,
                                   max_segments=self.max_segments, latent=True,
                                   accept=accept if self.halt == "checked" else None):
            confidence, predictions = torch.softmax(step.logits.float(), dim=-1).max(dim=-1)
            confidence, predictions = confidence.cpu().numpy(), predictions.cpu().numpy()
            q_halt = torch.sigmoid(step.q_halt_logits.float()).cpu().numpy()
            q_continue = torch.sigmoid(step.q_continue_logits.float()).cpu().numpy()
            halted = step.halted.cpu().numpy()
            assert step.latent_change is not None
            latent = step.latent_change.cpu().numpy()
            # Rows that halted earlier are not recomputed: they get no new segment.
            for row in np.flatnonzero(step.active.cpu().numpy()):
                segment = make_segment(self.task, puzzles[row], step.segment, predictions[row],
                                       confidence[row], q_halt[row], q_continue[row],
                                       halted[row], previous[row], latent[row])
                previous[row] = segment
                yield int(row), segment


def load_engine(task: str, model_spec: str | None, device: str, halt: str,
                max_segments: int | None, dtype: str = "auto") -> Engine:
    """Find and load the model like `hrm solve` (same names, defaults and error messages)."""
    solver, name = load_solver(task, model_spec, device, halt=halt, max_segments=max_segments,
                               dtype=dtype,
                               batch_size=1)
    return Engine(solver, name, max_segments)


__all__ = ["Engine", "load_engine"]
