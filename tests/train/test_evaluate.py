"""Evaluation: budgets and adaptive halting from one rollout, ARC voting, loading targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import sudoku4_dataset, tiny_config

from hrm.datasets import arc
from hrm.datasets.arc_votes import ArcVotes
from hrm.datasets.format import (
    DatasetMetadata,
    PuzzleSet,
    load_identifiers,
    load_split,
    write_dataset,
)
from hrm.inference.store import ModelNotFoundError
from hrm.model import HRM, HRMConfig, save_bundle
from hrm.train.data import EvalLoader
from hrm.train.errors import TrainingError
from hrm.train.evaluate import (
    check_model_fits,
    evaluate,
    load_eval_target,
    segment_budgets,
)
from hrm.train.loop import train

ARC_BUILT = Path(__file__).resolve().parents[1] / "fixtures" / "official-hrm" / "datasets" \
    / "arc-built"


pytestmark = pytest.mark.usefixtures("one_thread")


def random_model(vocab: int, seq_len: int, identifiers: int = 1, seed: int = 0) -> HRM:
    torch.manual_seed(seed)
    config = HRMConfig.from_preset("tiny", vocab_size=vocab, seq_len=seq_len,
                                   num_puzzle_identifiers=identifiers, halt_max_steps=4)
    model = HRM(config).eval()
    with torch.no_grad():
        # A Q head that halts some sequences early and some late, and answers without
        # the pad token (whose labels would be ignored).
        model.q_head.weight.normal_(0, 0.2)
        model.q_head.bias.copy_(torch.tensor([-0.75, 0.75]))
        model.lm_head.weight.mul_(20)[0].zero_()
        if model.puzzle_emb is not None:
            model.puzzle_emb.weights.normal_()
    return model


def calibrate_halting(model: HRM, inputs: torch.Tensor) -> None:
    """Shift the halt bias so that about half of all (sequence, segment) pairs would halt:
    adaptive halting then stops sequences after different numbers of segments."""
    margins = torch.stack([s.q_halt_logits - s.q_continue_logits
                           for s in model.rollout(inputs, halt="max", max_segments=4)])
    with torch.no_grad():
        model.q_head.bias[0] -= margins.median()


def predictions_by_segment(model: HRM, inputs: torch.Tensor, segments: int) -> list[np.ndarray]:
    return [s.predictions.numpy() for s in model.rollout(inputs, halt="max",
                                                         max_segments=segments)]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> tuple[Path, HRM]:
    """4x4 Sudoku inputs whose labels are the random model's own answers after 1..4
    segments (and random answers for every fifth row), so every budget scores differently."""
    source = load_split(sudoku4_dataset(64, 45), "test")
    model = random_model(source.metadata.vocab_size, source.metadata.seq_len)
    inputs = torch.from_numpy(np.asarray(source.all.inputs, dtype=np.int64))
    calibrate_halting(model, inputs)
    per_segment = predictions_by_segment(model, inputs, 4)
    rng = np.random.default_rng(0)
    labels = np.stack([per_segment[i % 5][i] if i % 5 < 4 else rng.integers(1, 6, 16)
                       for i in range(len(inputs))])
    labels[:, 0] = np.where(np.arange(len(labels)) % 7 == 0, 0, labels[:, 0])  # some ignored
    n = len(inputs)
    puzzle_set = PuzzleSet(inputs.numpy().astype(np.uint8), labels.astype(np.uint8),
                           np.zeros(n, np.int32), np.arange(n + 1, dtype=np.int32),
                           np.arange(n + 1, dtype=np.int32))
    metadata = DatasetMetadata(0, 0, 0, 6, 16, 1, n, 1.0)
    out = tmp_path_factory.mktemp("labelled") / "data"
    write_dataset(out, {"test": (metadata, {"all": puzzle_set})}, ["<blank>"])
    return out, model


def reference_scores(model: HRM, folder: Path, budget: int) -> dict:
    """Exact accuracy per budget from separate rollouts, and adaptive halting's."""
    split = load_split(folder, "test").all
    inputs = torch.from_numpy(np.asarray(split.inputs, dtype=np.int64))
    labels = np.asarray(split.labels, dtype=np.int64)
    mask = labels != 0

    def exact(predictions: np.ndarray) -> float:
        right = np.all((predictions == labels) | ~mask, axis=1)
        return float(np.mean(right[mask.any(axis=1)]))  # rows without labels do not count

    scores = {b: exact(predictions_by_segment(model, inputs, b)[-1])
              for b in range(1, budget + 1)}
    *_, last = model.rollout(inputs, halt="adaptive", max_segments=budget)
    return {"by_budget": scores, "adaptive": exact(last.predictions.numpy()),
            "segments": float(last.steps.float().mean())}


@pytest.mark.parametrize("batch", [45, 16], ids=["one-batch", "padded-batches"])
def test_one_rollout_scores_every_budget_and_adaptive_halting(labelled, batch):
    folder, model = labelled
    expected = reference_scores(model, folder, 6)
    result = evaluate(model, EvalLoader(folder, batch), max_segments=6)
    assert result is not None and result.examples == 45
    assert sorted(result.by_segments) == [1, 2, 4, 6]  # trained 4, asked for 6
    for b, values in result.by_segments.items():
        assert values["exact_accuracy"] == pytest.approx(expected["by_budget"][b])
    assert result.exact_accuracy == pytest.approx(expected["by_budget"][6])
    assert result.adaptive["exact_accuracy"] == pytest.approx(expected["adaptive"])
    assert result.adaptive["mean_segments"] == pytest.approx(expected["segments"])
    # The labels were the model's answers after 1..4 segments: those budgets score >= 1/5.
    assert all(expected["by_budget"][b] >= 0.2 for b in range(1, 5))
    assert 1 < result.adaptive["mean_segments"] < 6
    data = result.to_dict()
    assert set(data["by_segments"]) == {"1", "2", "4", "6"} and "arc" not in data


def test_segment_budgets():
    assert segment_budgets(16, 16) == [1, 2, 4, 8, 16]
    assert segment_budgets(32, 16) == [1, 2, 4, 8, 16, 32]
    assert segment_budgets(20, 16) == [1, 2, 4, 8, 16, 20]
    assert segment_budgets(3, 16) == [1, 2, 3]


# ----------------------------------------------------------------------------------------
# ARC
# ----------------------------------------------------------------------------------------


def arc_examples():
    split = load_split(ARC_BUILT, "test").all
    names = load_identifiers(ARC_BUILT)
    rows = []
    for example, identifier in enumerate(split.puzzle_identifiers):
        rows.append((example, int(identifier), names[identifier],
                     np.asarray(split.inputs[example]), np.asarray(split.labels[example])))
    return names, rows


def wrong_answer(label_tokens: np.ndarray, name: str, shift: int) -> np.ndarray:
    """Tokens of a wrong grid, the same for every variant once mapped back."""
    _, tid, colour_map = arc.parse_augmentation_name(name)
    original = arc.invert(arc.decode_grid(label_tokens), tid, colour_map)
    wrong = original.copy()
    wrong[0, 0] = (wrong[0, 0] + shift) % 10
    return arc.encode_grid(arc.augment_grid(wrong, tid, colour_map))


def test_arc_votes_undo_augmentations_and_score_pass_at_k():
    names, rows = arc_examples()
    votes = ArcVotes(names)
    per_input: dict[str, list] = {}
    for example, identifier, name, inputs, labels in rows:
        task, variant = name.split("_")[0], len(per_input.get(name.split("_")[0], []))
        if task == "0c786b71":  # every variant right: pass@1
            prediction, confidence = labels, 0.5
        else:  # two variants agree on a wrong answer, one is right, one wrong otherwise
            prediction, confidence = {
                0: (wrong_answer(labels, name, 1), 0.2),
                1: (wrong_answer(labels, name, 1), 0.3),
                2: (labels, 0.9),
                3: (wrong_answer(labels, name, 2), 0.1),
            }[variant]
        votes.add(example, identifier, inputs, labels, prediction, confidence)
        grid = arc.decode_grid(prediction)
        per_input.setdefault(task, []).append((name, grid, confidence))

    scores = votes.scores()
    assert scores == {"tasks": 2, "test_inputs": 2, "pass@1": 0.5, "pass@2": 1.0}
    # The ranking is `hrm.datasets.arc.vote`'s.
    for key in votes.pairs:
        ranked = votes.ranked(key)
        expected = arc.vote(per_input[key[0]], top_k=3)
        assert [r[1] for r in ranked] == [g.tobytes() for g in expected]


def test_arc_votes_merge_like_one_pool():
    names, rows = arc_examples()
    whole, first, second = ArcVotes(names), ArcVotes(names), ArcVotes(names)
    for example, identifier, name, inputs, labels in rows:
        prediction = labels if example % 3 else wrong_answer(labels, name, 1)
        for pool in (whole, first if example % 2 else second):
            pool.add(example, identifier, inputs, labels, prediction, 0.1 * example)
    first.merge(second)
    assert first.scores() == whole.scores()
    assert {k: first.ranked(k) for k in first.pairs} == {k: whole.ranked(k) for k in whole.pairs}


def test_evaluate_reports_arc_pass_at_k():
    model = random_model(12, 900, identifiers=21)
    result = evaluate(model, EvalLoader(ARC_BUILT, 8), max_segments=2, task="arc",
                      identifiers=load_identifiers(ARC_BUILT))
    assert result is not None and result.votes is not None
    assert result.votes["tasks"] == 2 and result.votes["test_inputs"] == 2
    assert 0 <= result.votes["pass@1"] <= result.votes["pass@2"] <= 1
    assert result.to_dict()["arc"] == result.votes  # reported under the task's name


# ----------------------------------------------------------------------------------------
# What `hrm eval` loads
# ----------------------------------------------------------------------------------------


def test_targets_are_runs_checkpoints_and_bundles(tmp_path):
    data = sudoku4_dataset(64, 32)
    run = tmp_path / "run"
    train(tiny_config(data, run, steps=3))
    from_run = load_eval_target(run)
    assert from_run.task == "sudoku" and from_run.source == run / "model"

    # An unfinished run is evaluated from its latest checkpoint.
    (run / "model" / "config.json").unlink()
    from_checkpoint = load_eval_target(run)
    assert from_checkpoint.source.name == "checkpoint.safetensors"
    for name, tensor in from_run.model.state_dict().items():
        assert torch.equal(tensor, from_checkpoint.model.state_dict()[name])

    bundle = save_bundle(from_run.model, tmp_path / "bundle", task={"name": "sudoku"})
    assert load_eval_target(bundle).task == "sudoku"

    # Not a path that exists: a model name, which the store does not know either.
    with pytest.raises(ModelNotFoundError, match="no such file or folder"):
        load_eval_target(tmp_path / "missing")
    with pytest.raises(TrainingError, match="neither a run folder nor a model bundle"):
        load_eval_target(tmp_path)
    metadata = load_split(ARC_BUILT, "test").metadata
    with pytest.raises(TrainingError, match="the dataset has vocab 12"):
        check_model_fits(from_run.model, metadata, ARC_BUILT)


def test_mazes_score_any_shortest_path_not_only_the_labelled_one():
    from hrm.datasets import maze
    from hrm.datasets.tasks import get_task
    from hrm.train.evaluate import _other_answers

    # Two shortest paths round the centre wall; the label takes the top one.
    puzzle = maze.parse("S  \n # \n  G\n")[0].grid
    label = maze.parse("Soo\n #o\n  G\n")[0].solution
    other = maze.parse("S  \no# \nooG\n")[0].solution
    moved_wall = maze.parse("S  \no  \nooG\n")[0].solution  # the centre wall is gone
    too_long = label.copy()
    too_long[2, 0] = maze.PATH  # a stray path cell: one more than the shortest
    answers = [other, moved_wall, too_long, other]

    def tokens(grids):
        return torch.from_numpy(np.stack([maze.encode(g) for g in grids]).astype(np.int64))

    inputs, labels = tokens([puzzle] * 4), tokens([label] * 4)
    rows = torch.tensor([True, True, True, False])  # the last is padding
    found = _other_answers(get_task("maze"), inputs, labels, tokens(answers), rows)
    assert found.tolist() == [True, False, False, False]


def test_a_grid_model_gets_the_budget_hrm_solve_gives_larger_grids(tmp_path):
    from hrm.datasets import maze, maze_kinds
    from hrm.model.grid import GridHRM, GridHRMConfig

    torch.manual_seed(0)
    model = GridHRM(GridHRMConfig.from_preset("tiny", vocab_size=6, seq_len=64)).eval()
    pairs = [maze_kinds.make("walls", 16, 16, seed=0, index=i) for i in range(3)]
    inputs = np.stack([p.reshape(-1) + 1 for p, _ in pairs]).astype(np.uint8)
    labels = np.stack([a.reshape(-1) + 1 for _, a in pairs]).astype(np.uint8)
    n = len(inputs)
    puzzle_set = PuzzleSet(inputs, labels, np.zeros(n, np.int32),
                           np.arange(n + 1, dtype=np.int32), np.arange(n + 1, dtype=np.int32))
    metadata = DatasetMetadata(0, 0, 0, maze.VOCAB_SIZE, 256, 1, n, 1.0)
    write_dataset(tmp_path / "data", {"test": (metadata, {"all": puzzle_set})}, ["<blank>"])

    result = evaluate(model, EvalLoader(tmp_path / "data", 4))
    # 4 segments on its 8x8 canvas, twice as many on 16x16 grids: what solve gives them.
    budget = model.default_budgets(torch.from_numpy(inputs.astype(np.int64)))
    assert result.max_segments == 8 and budget.tolist() == [8] * n
    assert sorted(result.by_segments) == [1, 2, 4, 8]
    assert evaluate(model, EvalLoader(tmp_path / "data", 4), max_segments=3).max_segments == 3
