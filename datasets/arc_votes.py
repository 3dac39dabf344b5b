"""ARC's pass@k: the answers of a task's augmented variants, mapped back to the task's frame
and pooled per test input.

Most votes first, ties by the higher mean sigmoid(q_halt), then by first appearance (as the
original's `arc_eval.ipynb` and `hrm.datasets.arc.vote` rank them). A task counts for pass@k
when every one of its test inputs has the right answer among its top k.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hrm.datasets import arc

ARC_PASS_K = (1, 2)

GridKey = tuple[tuple[int, ...], bytes]


def _grid_key(grid: np.ndarray) -> GridKey:
    return tuple(grid.shape), np.ascontiguousarray(grid, dtype=np.uint8).tobytes()


class ArcVotes:
    """Answers of augmented ARC variants pooled per (task, test input) in the task's frame.

    Mergeable across ranks: each answer keeps its vote count, summed confidence and the
    first example index that gave it, so the ranking does not depend on how examples were
    split between ranks.
    """

    def __init__(self, identifiers: Sequence[str]):
        self.identifiers = identifiers
        # (task, input key) -> {"label": GridKey | None, "identity": bool, "answers": {...}}
        self.pairs: dict[tuple[str, GridKey], dict[str, Any]] = {}

    def add(self, example_index: int, identifier: int, inputs: np.ndarray, labels: np.ndarray,
            prediction: np.ndarray, confidence: float) -> None:
        name = self.identifiers[identifier]
        task, tid, colour_map = arc.parse_augmentation_name(name)
        grid_in = arc.decode_grid(inputs)
        if grid_in is None:
            return  # not an ARC grid: nothing to pool it with
        key = (task, _grid_key(arc.invert(grid_in, tid, colour_map)))
        entry = self.pairs.setdefault(key, {"label": None, "identity": False, "answers": {}})
        identity = name == task
        # The expected answer comes from the un-augmented puzzle, as in the original;
        # inverted variant labels stand in when a dataset has no un-augmented copy.
        if entry["label"] is None or (identity and not entry["identity"]):
            grid_out = arc.decode_grid(np.where(labels < 0, 0, labels))
            if grid_out is not None:
                entry["label"] = _grid_key(arc.invert(grid_out, tid, colour_map))
                entry["identity"] = identity
        answer = arc.decode_grid(prediction)
        if answer is None:
            return
        answer_key = _grid_key(arc.invert(answer, tid, colour_map))
        votes = entry["answers"].setdefault(answer_key, [0, 0.0, example_index])
        votes[0] += 1
        votes[1] += confidence
        votes[2] = min(votes[2], example_index)

    def merge(self, other: ArcVotes) -> None:
        for key, theirs in other.pairs.items():
            mine = self.pairs.setdefault(key, {"label": None, "identity": False, "answers": {}})
            better = mine["label"] is None or (theirs["identity"] and not mine["identity"])
            if better and theirs["label"] is not None:
                mine["label"], mine["identity"] = theirs["label"], theirs["identity"]
            for answer, (count, total, first) in theirs["answers"].items():
                votes = mine["answers"].setdefault(answer, [0, 0.0, first])
                votes[0] += count
                votes[1] += total
                votes[2] = min(votes[2], first)

    def ranked(self, key: tuple[str, GridKey]) -> list[GridKey]:
        answers = self.pairs[key]["answers"]
        # Most votes, then higher mean confidence, then first appearance.
        order = sorted(answers.items(), key=lambda kv: (-kv[1][0], -kv[1][1] / kv[1][0],
                                                        kv[1][2]))
        return [answer for answer, _ in order]

    def scores(self, ks: Sequence[int] = ARC_PASS_K) -> dict[str, Any]:
        tasks: dict[str, list[tuple[str, GridKey]]] = {}
        for key in self.pairs:
            tasks.setdefault(key[0], []).append(key)
        solved = dict.fromkeys(ks, 0)
        for keys in tasks.values():
            rankings = [(self.pairs[k]["label"], self.ranked(k)) for k in keys]
            for k in ks:
                solved[k] += all(label is not None and label in ranking[:k]
                                 for label, ranking in rankings)
        result: dict[str, Any] = {"tasks": len(tasks), "test_inputs": len(self.pairs)}
        for k in ks:
            result[f"pass@{k}"] = solved[k] / len(tasks) if tasks else 0.0
        return result


__all__ = ["ARC_PASS_K", "ArcVotes"]
