import json
from pathlib import Path

import numpy as np
import pytest

from hrm.datasets.arc import decode_grid, invert, parse_augmentation_name, parse_file
from hrm.datasets.arc_builder import build_arc, discover_subsets, load_subset
from hrm.datasets.errors import HRMDataError
from hrm.datasets.format import load_identifiers, load_split

FIXTURES = Path(__file__).parents[1] / "fixtures" / "official-hrm" / "datasets"
RAW = FIXTURES / "arc-raw"
BUILT = FIXTURES / "arc-built"

# The order in which the original builder's glob listed the fixture's files (that
# machine's filesystem order): evaluation, then training. The original shuffled each
# folder with the seeded global RNG; un-shuffling the order in identifiers.json with
# that permutation gives this listing.
ORIGINAL_ORDER = [
    ("evaluation", [RAW / "evaluation" / f"{n}.json" for n in ("00576224", "0c786b71")]),
    ("training", [RAW / "training" / f"{n}.json" for n in ("05269061", "0520fde7", "0d3d703e")]),
]


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def raw_tasks() -> dict[str, tuple[str, list]]:
    """task id -> (subset, the task's pairs as (input, output) arrays)."""
    tasks = {}
    for subset, folder in discover_subsets(RAW):
        for task in load_subset(folder):
            tasks[task.id] = (subset, task)
    return tasks


def untranslate(tokens: np.ndarray) -> np.ndarray:
    """Move a translated example back to the top-left so decode_grid can read it."""
    canvas = np.asarray(tokens).reshape(30, 30)
    rows, cols = np.nonzero(canvas)
    return canvas[rows.min():, cols.min():]


def decode_examples(split, puzzle: int, translated: bool):
    s = split.all
    rows = range(s.puzzle_indices[puzzle], s.puzzle_indices[puzzle + 1])
    for row in rows:
        inp, label = s.inputs[row], s.labels[row]
        if translated:
            inp = np.pad(untranslate(inp), ((0, 30), (0, 30)))[:30, :30]
            label = np.pad(untranslate(label), ((0, 30), (0, 30)))[:30, :30]
        yield decode_grid(inp), decode_grid(label)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Our build of the raw fixture in the portable order (subsets as listed, files
    sorted by name)."""
    out = tmp_path_factory.mktemp("arc") / "built"
    return build_arc(discover_subsets(RAW), out, aug=3, seed=42)


def test_fixture_loads():
    names = load_identifiers(BUILT)
    assert names[0] == "<blank>" and len(names) == 21
    for split in ("train", "test"):
        loaded = load_split(BUILT, split)
        assert loaded.metadata.num_puzzle_identifiers == 21
        assert loaded.all.inputs.dtype == np.uint8


def test_reproduces_the_original_byte_for_byte(tmp_path):
    out = build_arc(ORIGINAL_ORDER, tmp_path / "out", aug=3, seed=42)
    assert files_of(out) == files_of(BUILT)


def test_same_seed_same_bytes_other_seed_other_augmentations(tmp_path, built):
    again = build_arc(discover_subsets(RAW), tmp_path / "again", aug=3, seed=42)
    assert files_of(again) == files_of(built)
    other = build_arc(discover_subsets(RAW), tmp_path / "other", aug=3, seed=43)
    assert load_identifiers(other) != load_identifiers(built)


def test_layout_dtypes_and_metadata_match_the_fixture(built):
    assert sorted(files_of(built)) == sorted(files_of(BUILT))
    assert len(load_identifiers(built)) == len(load_identifiers(BUILT))
    for split in ("train", "test"):
        ours, theirs = load_split(built, split), load_split(BUILT, split)
        assert ours.metadata == theirs.metadata
        for name in ("inputs", "labels", "puzzle_identifiers", "puzzle_indices",
                     "group_indices"):
            a, b = getattr(ours.all, name), getattr(theirs.all, name)
            assert (a.dtype, a.shape) == (b.dtype, b.shape), name
        # Group sizes and examples per puzzle do not depend on the random draws.
        assert ours.all.group_indices.tolist() == theirs.all.group_indices.tolist()
    # The test split is identical but for the augmentations drawn.
    ours, theirs = load_split(built, "test").all, load_split(BUILT, "test").all
    originals = [int(g) for g in ours.group_indices[:-1]]
    np.testing.assert_array_equal(ours.inputs[originals], theirs.inputs[originals])


def test_every_variant_decodes_and_inverts_to_the_raw_task(built):
    names = load_identifiers(built)
    tasks = raw_tasks()
    seen_tasks = []
    for split_name in ("train", "test"):
        split = load_split(built, split_name)
        s = split.all
        for group in range(s.num_groups):
            puzzles = range(s.group_indices[group], s.group_indices[group + 1])
            group_tasks = set()
            for puzzle in puzzles:
                name = names[s.puzzle_identifiers[puzzle]]
                task_id, tid, colour_map = parse_augmentation_name(name)
                group_tasks.add(task_id)
                if puzzle == puzzles[0]:
                    assert name == task_id, "the un-augmented task comes first"
                subset, task = tasks[task_id]
                held_out = subset == "evaluation"
                if split_name == "test":
                    expected = task.test
                else:
                    expected = task.train if held_out else task.pairs
                decoded = list(decode_examples(split, puzzle, split_name == "train"))
                assert len(decoded) == len(expected)
                for (inp, out), pair in zip(decoded, expected, strict=True):
                    np.testing.assert_array_equal(invert(inp, tid, colour_map), pair.input)
                    np.testing.assert_array_equal(invert(out, tid, colour_map), pair.output)
            assert len(group_tasks) == 1
            if split_name == "train":
                seen_tasks.append(group_tasks.pop())
    # Identifiers are numbered in the order the tasks were met: their groups' order.
    assert [n for n in names[1:] if "_" not in n] == seen_tasks


def test_translation_spares_one_example_per_puzzle(built):
    def at_origin(tokens):
        canvas = tokens.reshape(30, 30)
        return canvas[0, 0] >= 2

    train = load_split(built, "train").all
    for p in range(train.num_puzzles):
        rows = range(train.puzzle_indices[p], train.puzzle_indices[p + 1])
        assert any(at_origin(train.inputs[r]) for r in rows)
    assert not all(at_origin(row) for row in train.inputs)
    test = load_split(built, "test").all
    assert all(at_origin(row) for row in test.inputs)
    assert all(at_origin(label) for label in test.labels)


def write_task(folder: Path, name: str, pairs: list, tests: list) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    task = {"train": [{"input": i, "output": o} for i, o in pairs],
            "test": [{"input": i, "output": o} for i, o in tests]}
    path.write_text(json.dumps(task))
    return path


def test_duplicate_augmentations_are_skipped(tmp_path, caplog):
    # All black: every augmentation is the task itself.
    write_task(tmp_path / "raw" / "training", "black", [([[0]], [[0]])], [([[0]], [[0]])])
    # 1x1 cells of colours 0 and 1: only the image of colour 1 varies, 9 variants in all.
    write_task(tmp_path / "raw" / "training", "two", [([[0]], [[1]])], [([[1]], [[0]])])
    out = build_arc([("training", tmp_path / "raw" / "training")], tmp_path / "out", aug=20)
    names = load_identifiers(out)
    assert names.count("black") == 1 and not any(n.startswith("black_") for n in names)
    assert len([n for n in names if n.startswith("two")]) == 9
    train = load_split(out, "train").all
    assert sorted(np.diff(train.group_indices).tolist()) == [1, 9]
    assert "only 0 distinct augmentations" in caplog.text
    assert not (out / "test").exists()  # no evaluation subset, no test split


def test_missing_test_output_is_refused(tmp_path):
    folder = tmp_path / "evaluation"
    folder.mkdir()
    (folder / "x.json").write_text(json.dumps(
        {"train": [{"input": [[1]], "output": [[1]]}], "test": [{"input": [[1]]}]}))
    with pytest.raises(HRMDataError, match="x: a test output is missing"):
        build_arc({"evaluation": folder}, tmp_path / "out", aug=1)
    assert not (tmp_path / "out").exists()


def test_bad_sources(tmp_path):
    with pytest.raises(HRMDataError, match="no such file"):
        build_arc({"training": tmp_path / "nope"}, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HRMDataError, match=r"no \.json"):
        build_arc({"training": tmp_path / "empty"}, tmp_path / "out")
    with pytest.raises(HRMDataError, match="no ARC tasks"):
        build_arc([], tmp_path / "out")


def test_existing_output_needs_overwrite(tmp_path, built):
    out = tmp_path / "out"
    sources = [("evaluation", RAW / "evaluation")]
    build_arc(sources, out, aug=0)
    with pytest.raises(HRMDataError, match="already exists"):
        build_arc(sources, out, aug=0)
    build_arc(sources, out, aug=1, overwrite=True)
    assert len(load_identifiers(out)) == 1 + 2 * 2


def test_progress_and_single_file_source(tmp_path):
    many = tmp_path / "many.json"
    tasks = {p.stem: json.loads(p.read_text()) for p in sorted(RAW.glob("*/*.json"))}
    many.write_text(json.dumps(tasks))
    calls = []
    out = build_arc({"training": many}, tmp_path / "out", aug=0,
                    progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 5) for i in range(1, 6)]
    assert sorted(load_identifiers(out)[1:]) == sorted(tasks)
    assert [t.id for t in parse_file(many)] == list(tasks)
