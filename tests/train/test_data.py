"""Training and evaluation batches: coverage, packing, ranks, resume, padding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hrm.datasets.builders import build_from_csv
from hrm.datasets.format import DatasetMetadata, SplitBuilder, load_split, write_dataset
from hrm.model.loss import IGNORE_LABEL_ID
from hrm.train.data import EvalLoader, TrainLoader, TrainSampler, steps_per_epoch

OFFICIAL = Path(__file__).resolve().parents[1] / "fixtures" / "official-hrm" / "datasets"
SEQ_LEN = 6


def make_dataset(root: Path, variants: list[list[int]], dtype=np.int64) -> Path:
    """A dataset whose rows say where they come from.

    `variants[g]` lists the example count of each puzzle of group g. Row tokens are
    (example index, puzzle index, group index, example offset in its puzzle, 0, 0), each
    + 1 so that 0 stays the pad token; labels are the same row, so the trailing 0s are
    unlabelled positions.
    """
    builder = SplitBuilder()
    example = puzzle = 0
    for group, sizes in enumerate(variants):
        for size in sizes:
            rows = []
            for offset in range(size):
                row = np.array([example, puzzle, group, offset, -1, -1]) + 1
                rows.append((row, row))
                example += 1
            builder.add_puzzle(rows, identifier=puzzle + 1)
            puzzle += 1
        builder.end_group()
    data = builder.build(dtype, SEQ_LEN)
    metadata = DatasetMetadata(
        pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=example + 2,
        seq_len=SEQ_LEN, num_puzzle_identifiers=puzzle + 1, total_groups=len(variants),
        mean_puzzle_examples=example / puzzle,
    )
    splits = {name: (metadata, {"all": data}) for name in ("train", "test")}
    names = ["<blank>", *(f"p{i}" for i in range(puzzle))]
    return write_dataset(root / "data", splits, names)


def decode(batch: dict[str, torch.Tensor]) -> np.ndarray:
    """(rows, 4): example, puzzle, group, offset of each row."""
    return batch["inputs"][:, :4].numpy().astype(np.int64) - 1


def take(loader, count: int) -> list[dict[str, torch.Tensor]]:
    """The next `count` batches, over as many passes as needed."""
    out: list[dict[str, torch.Tensor]] = []
    while len(out) < count:
        before = len(out)
        for batch in loader:
            out.append(batch)
            if len(out) == count:
                break
        assert len(out) > before, "a pass yielded no batch"
    return out


def same_batches(xs, ys) -> bool:
    if len(xs) != len(ys):
        return False
    return all(x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
               for x, y in zip(xs, ys, strict=True))


@pytest.fixture
def single(tmp_path: Path) -> Path:
    """Sudoku-like: 12 groups of 1-3 variants, one example per puzzle."""
    return make_dataset(tmp_path / "single", [[1] * (1 + g % 3) for g in range(12)])


@pytest.fixture
def multi(tmp_path: Path) -> Path:
    """ARC-like: 10 groups of 1-2 variants, 1-5 examples per puzzle."""
    variants = [[1 + (g + v) % 5 for v in range(1 + g % 2)] for g in range(10)]
    return make_dataset(tmp_path / "multi", variants, dtype=np.uint8)


# ----------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------


def test_epoch_plan_draws_one_puzzle_per_group_and_shuffles_its_examples(multi: Path):
    data = load_split(multi, "train").all
    sampler = TrainSampler(data, global_batch_size=4, seed=3)
    plan = sampler.plan(0)
    assert sorted(plan.order) == list(range(data.num_groups))
    for k, group in enumerate(plan.order):
        puzzle = plan.puzzles[k]
        assert data.group_indices[group] <= puzzle < data.group_indices[group + 1]
        examples = plan.examples[plan.starts[k]:plan.starts[k + 1]]
        first, last = data.puzzle_indices[puzzle], data.puzzle_indices[puzzle + 1]
        assert sorted(examples) == list(range(first, last))  # all, without replacement
        assert (plan.example_puzzles[plan.starts[k]:plan.starts[k + 1]] == puzzle).all()
    # A pure function of (seed, epoch): a fresh sampler draws the same; other epochs differ.
    again = TrainSampler(data, global_batch_size=4, seed=3).plan(0)
    assert (again.examples == plan.examples).all() and (again.order == plan.order).all()
    assert any((sampler.plan(e).order != plan.order).any() for e in range(1, 4))


def test_each_epoch_visits_every_group_once(single: Path):
    loader = TrainLoader(single, global_batch_size=4, seed=0)
    orders = []
    for epoch in range(3):
        rows = np.concatenate([decode(b) for b in loader])
        assert len(rows) == 12  # 3 full batches, nothing dropped
        assert sorted(rows[:, 2]) == list(range(12))
        data = loader.data
        for example, puzzle, group, _ in rows:  # the row is its puzzle's, in its group
            assert data.group_indices[group] <= puzzle < data.group_indices[group + 1]
            assert data.puzzle_indices[puzzle] == example
        assert loader.sampler.state_dict()["epoch"] == epoch + 1
        orders.append(tuple(rows[:, 2]))
    assert len(set(orders)) == 3  # reshuffled every epoch


def test_last_partial_batch_of_a_pass_is_dropped(single: Path):
    loader = TrainLoader(single, global_batch_size=5, seed=0)
    batches = list(loader)
    assert len(batches) == 2  # 12 groups: 5 + 5, the last 2 are dropped
    assert loader.sampler.epoch == 1 and loader.sampler.position == 0
    assert list(loader.sampler.plan(0).order[:10]) == list(np.concatenate(
        [decode(b)[:, 2] for b in batches]))


def test_batches_pack_across_epochs_within_a_pass(single: Path):
    loader = TrainLoader(single, global_batch_size=5, seed=1, epochs_per_iter=3)
    rows = np.concatenate([decode(b) for b in loader])
    assert len(rows) == 35  # 36 groups in the pass: 7 batches, one group dropped at the end
    for epoch in range(2):
        assert sorted(rows[12 * epoch:12 * (epoch + 1), 2]) == list(range(12))
    assert loader.sampler.epoch == 3 and loader.sampler.position == 0
    assert loader.epoch == 3.0


def test_multi_example_puzzles_are_packed_and_truncated_as_the_original(multi: Path):
    batch_size = 7
    loader = TrainLoader(multi, global_batch_size=batch_size, seed=5)
    data = loader.data
    plan = loader.sampler.plan(0)
    batches = list(loader)
    assert len(batches) >= 2
    visited: list[int] = []
    truncated = 0
    for batch in batches:
        rows = decode(batch)
        assert len(rows) == batch_size
        assert (batch["puzzle_identifiers"].numpy() == rows[:, 1] + 1).all()
        # Consecutive runs of one puzzle each; all but the batch's last run are complete.
        cuts = np.flatnonzero(np.diff(rows[:, 1])) + 1
        runs = np.split(rows, cuts)
        for i, run in enumerate(runs):
            puzzle, group = run[0, 1], run[0, 2]
            size = data.puzzle_indices[puzzle + 1] - data.puzzle_indices[puzzle]
            assert len(set(run[:, 3])) == len(run)  # examples without replacement
            assert (run[:, 0] == data.puzzle_indices[puzzle] + run[:, 3]).all()
            assert len(run) == size if i < len(runs) - 1 else len(run) <= size
            truncated += len(run) < size
            visited.append(int(group))
    assert truncated  # the fixture does exercise truncation
    # Groups in the epoch's order, each once: a truncated puzzle's rest is skipped, not
    # carried into the next batch.
    assert visited == list(plan.order[:len(visited)])


def test_resume_after_k_batches_gives_the_same_following_batches(multi: Path):
    def loader() -> TrainLoader:
        return TrainLoader(multi, global_batch_size=6, seed=11, epochs_per_iter=2)

    reference = take(loader(), 12)  # spans several passes
    for k in (0, 1, 3, 5, 7):
        interrupted = loader()
        assert same_batches(take(interrupted, k), reference[:k])
        state = interrupted.state_dict()
        resumed = loader()
        resumed.load_state_dict(state)
        assert same_batches(take(resumed, 12 - k), reference[k:]), f"resume after {k}"


def test_ranks_take_contiguous_slices_of_the_global_batch(multi: Path):
    whole = take(TrainLoader(multi, global_batch_size=8, seed=2), 6)
    for world in (2, 4):
        parts = [take(TrainLoader(multi, global_batch_size=8, seed=2, rank=r, world_size=world),
                      6) for r in range(world)]
        for i, batch in enumerate(whole):
            for key, value in batch.items():
                assert torch.equal(torch.cat([p[i][key] for p in parts]), value)


def test_batch_dtypes_and_ignored_labels(single: Path):
    batch = next(iter(TrainLoader(single, global_batch_size=4)))
    assert batch.keys() == {"inputs", "labels", "puzzle_identifiers"}
    assert all(v.dtype == torch.int32 for v in batch.values())
    assert batch["inputs"].shape == batch["labels"].shape == (4, SEQ_LEN)
    labels, inputs = batch["labels"], batch["inputs"]
    assert (labels[:, 4:] == IGNORE_LABEL_ID).all()  # on-disk label 0 = unlabelled
    assert torch.equal(labels[:, :4], inputs[:, :4])


def test_inputs_stay_memory_mapped(single: Path):
    loader = TrainLoader(single, global_batch_size=4)
    assert isinstance(loader.data.inputs, np.memmap)
    assert isinstance(loader.data.labels, np.memmap)


def test_bad_settings_are_refused(single: Path, multi: Path):
    with pytest.raises(ValueError, match="multiple of the number of ranks"):
        TrainLoader(single, global_batch_size=5, world_size=2)
    with pytest.raises(ValueError, match="rank"):
        EvalLoader(single, global_batch_size=4, rank=2, world_size=2)
    state = TrainLoader(single, global_batch_size=4).state_dict()
    with pytest.raises(ValueError, match="groups"):
        TrainLoader(multi, global_batch_size=4).load_state_dict(state)


def test_steps_per_epoch_is_the_originals_estimate(multi: Path):
    loader = TrainLoader(multi, global_batch_size=4)
    meta = loader.metadata
    assert loader.steps_per_epoch == pytest.approx(
        meta.total_groups * meta.mean_puzzle_examples / 4)
    assert steps_per_epoch(meta, 8) == pytest.approx(loader.steps_per_epoch / 2)


# ----------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("world", [1, 2, 3])
def test_eval_visits_every_example_once_in_order(multi: Path, world: int):
    global_batch = 6 * world
    loaders = [EvalLoader(multi, global_batch, rank=r, world_size=world) for r in range(world)]
    data = loaders[0].data
    per_rank = [list(loader) for loader in loaders]
    assert {len(batches) for batches in per_rank} == {len(loaders[0])}  # same on all ranks
    seen = []
    for step in range(len(loaders[0])):
        for rank in range(world):
            batch = per_rank[rank][step]
            # Full batches of 6 rows per rank; the last shrinks to what splits evenly.
            remaining = data.num_examples - step * global_batch
            assert {len(v) for v in batch.values()} == {min(6, -(-remaining // world))}
            mask = batch["mask"]
            seen += batch["example_indices"][mask].tolist()
            rows = decode(batch)
            real = rows[mask.numpy()]
            assert (real[:, 0] == batch["example_indices"][mask].numpy()).all()
            assert (batch["puzzle_identifiers"][mask].numpy() == real[:, 1] + 1).all()
            # Padding rows: pad token, ignored labels, blank identifier, index -1.
            pad = ~mask
            assert (batch["inputs"][pad] == 0).all()
            assert (batch["labels"][pad] == IGNORE_LABEL_ID).all()
            assert (batch["puzzle_identifiers"][pad] == 0).all()
            assert (batch["example_indices"][pad] == -1).all()
            assert mask.tolist() == sorted(mask.tolist(), reverse=True)  # padding last
    assert seen == list(range(data.num_examples))


# ----------------------------------------------------------------------------------------
# Datasets built by the original scripts and by ours
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["sudoku", "maze", "arc"])
def test_datasets_built_by_the_original_load(task: str):
    folder = OFFICIAL / f"{task}-built"
    train = TrainLoader(folder, global_batch_size=4, seed=0, epochs_per_iter=4)
    meta = train.metadata
    batches = list(train)
    assert batches
    for batch in batches:
        assert batch["inputs"].shape == (4, meta.seq_len)
        assert int(batch["inputs"].max()) < meta.vocab_size
        assert int(batch["puzzle_identifiers"].max()) < meta.num_puzzle_identifiers
        assert (batch["labels"] != 0).all()  # 0 was mapped to IGNORE_LABEL_ID
    test = EvalLoader(folder, global_batch_size=4, rank=1, world_size=2)
    examples = [i for b in test for i in b["example_indices"][b["mask"]].tolist()]
    total = test.num_examples
    expected = []
    for start in range(0, total, 4):  # rank 1's rows; a partial last batch splits evenly
        local = min(2, -(-min(4, total - start) // 2))
        expected += range(start + local, min(start + 2 * local, total))
    assert examples == expected


def test_datasets_built_here_load(tmp_path: Path):
    csv = OFFICIAL / "sudoku-csv"
    out = build_from_csv("sudoku", {"train": csv / "train.csv", "test": csv / "test.csv"},
                         tmp_path / "sudoku", aug=2, seed=0)
    train = TrainLoader(out, global_batch_size=2, seed=0)
    assert train.metadata.total_groups == len(train.sampler.plan(0).order)
    batch = next(iter(train))
    assert batch["inputs"].shape == (2, 81) and batch["inputs"].dtype == torch.int32
    assert len(list(EvalLoader(out, global_batch_size=2))) == len(EvalLoader(out, 2))
