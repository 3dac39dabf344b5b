import contextlib
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hrm.datasets import arc
from hrm.datasets.arc import (
    ArcPair,
    ArcTask,
    augment,
    augmentation_name,
    decode_grid,
    encode_grid,
    invert,
    parse,
    parse_augmentation_name,
    parse_file,
    render,
    render_rich,
    verify,
    vote,
)
from hrm.datasets.errors import PuzzleParseError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "official-hrm" / "datasets"

TASK = {
    "train": [{"input": [[1, 0], [0, 2]], "output": [[2, 0], [0, 1]]}],
    "test": [{"input": [[3]], "output": [[4]]}],
}


def pretty(data) -> str:
    return json.dumps(data, indent=2)


# ------------------------------------------------------------------------ parsing


def test_parse_single_task_named_after_source():
    (task,) = parse(json.dumps(TASK), "data/abc123.json")
    assert task.id == "abc123"
    assert len(task.train) == 1 and len(task.test) == 1
    assert task.train[0].input.dtype == np.uint8
    np.testing.assert_array_equal(task.train[0].output, [[2, 0], [0, 1]])
    np.testing.assert_array_equal(task.test[0].output, [[4]])


def test_parse_name_field_wins_and_stdin_gets_a_default():
    assert parse(json.dumps({**TASK, "name": "mine"}), "x.json")[0].id == "mine"
    assert parse(json.dumps(TASK), "<stdin>")[0].id == "task"


def test_parse_list_and_mapping_of_tasks():
    tasks = parse(json.dumps([TASK, TASK]), "many.json")
    assert [t.id for t in tasks] == ["many-0", "many-1"]
    tasks = parse(json.dumps({"b": TASK, "a": TASK}), "challenges.json")
    assert [t.id for t in tasks] == ["b", "a"]


def test_unknown_test_output_is_none():
    challenge = {"train": TASK["train"], "test": [{"input": [[1]]}]}
    (task,) = parse(json.dumps({"00000001": challenge}), "c.json")
    assert task.test[0].output is None


def test_parse_bytes_and_bom():
    (task,) = parse(("\ufeff" + json.dumps(TASK)).encode(), "x.json")
    assert task.id == "x"


def test_parse_file_reads_fixture_tasks():
    for path in sorted((FIXTURES / "arc-raw").glob("*/*.json")):
        (task,) = parse_file(path)
        assert task.id == path.stem
        raw = json.loads(path.read_text())
        for pair, raw_pair in zip(task.pairs, raw["train"] + raw["test"], strict=True):
            assert pair.input.tolist() == raw_pair["input"]
            assert pair.output.tolist() == raw_pair["output"]


def test_parse_file_missing(tmp_path):
    with pytest.raises(PuzzleParseError, match="cannot read"):
        parse_file(tmp_path / "nope.json")


# The second demonstration pair is on line 4: errors in it must point there.
TEMPLATE = """{
  "train": [
    {"input": [[1]], "output": [[1]]},
    {"input": %s, "output": [[1]]}
  ],
  "test": [{"input": [[1]], "output": [[2]]}]
}"""


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("", "empty input", None),
        ("  \n ", "empty input", None),
        ('{"train": [\n  {"input": [[1]]\n', "invalid JSON", 3),
        ("[]", "no ARC tasks", None),
        ("{}", "no ARC tasks", None),
        ("42", "expected an ARC task", None),
        ('{"train": [{"input": [[1]], "output": [[1]]}]}', "missing 'test'", None),
        ('{"a": {"train": []},\n "b": {"train": [], "test": []}}', "task a: 'train' must", 1),
        ('{"a": ' + json.dumps(TASK) + ',\n "b": [1]}', "task b: expected an object", 2),
        ('{"train": [\n{"output": [[1]]}], "test": []}', "train pair 1: missing 'input'", 2),
        ('{"train": [\n{"input": [[1]]}], "test": []}', "missing 'output'", 2),
        (TEMPLATE % "[[1, 10]]", r"train pair 2, input: cell \(1, 2\) is 10", 4),
        (TEMPLATE % "[[-1]]", "colours are 0-9", 4),
        (TEMPLATE % "[[1.5]]", "not an integer", 4),
        (TEMPLATE % "[[1.0]]", "not an integer", 4),
        (TEMPLATE % "[[true]]", "not an integer", 4),
        (TEMPLATE % '[["3"]]', "not an integer", 4),
        (TEMPLATE % "[[1, 2], [3]]", "rectangular", 4),
        (TEMPLATE % "[]", "empty grid", 4),
        (TEMPLATE % "[[]]", "empty grid", 4),
        (TEMPLATE % json.dumps([[0] * 31]), "at most 30x30", 4),
        (TEMPLATE % json.dumps([[0]] * 31), "at most 30x30", 4),
        (TEMPLATE % '"[[1]]"', "list of rows", 4),
        (TEMPLATE % "null", "list of rows", 4),
    ],
)
def test_parse_errors(text, message, line):
    with pytest.raises(PuzzleParseError, match=message) as info:
        parse(text, "bad.json")
    assert info.value.source == "bad.json"
    assert info.value.line == line


def test_error_line_points_at_the_grid_in_a_mapping():
    good = pretty({"first": TASK})
    text = pretty({"first": TASK, "second": {**TASK, "test": [{"input": [[1, 11]]}]}})
    with pytest.raises(PuzzleParseError, match=r"task second, test pair 1, input") as info:
        parse(text, "c.json")
    lines = text.splitlines()
    assert info.value.line is not None and info.value.line > len(good.splitlines())
    assert lines[info.value.line - 1].strip() == '"input": ['


def test_undecodable_bytes():
    with pytest.raises(PuzzleParseError, match="not UTF-8") as info:
        parse(b"\xff\xfe\x00garbage", "bin.json")
    assert info.value.line is None


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(), st.binary()))
def test_parse_never_fails_with_another_error_on_text(text):
    with contextlib.suppress(PuzzleParseError):
        parse(text, "fuzz")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 12) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["train", "test", "input", "output", "name"]), inner,
                      max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_parse_never_fails_with_another_error_on_json(value):
    try:
        tasks = parse(pretty(value), "fuzz")
    except PuzzleParseError:
        return
    for task in tasks:
        assert task.train and task.test


# ---------------------------------------------------------------- render and verify


def test_render_plain_and_rich():
    grid = np.array([[0, 1], [8, 9]], dtype=np.uint8)
    assert render(grid) == "01\n89"
    text = render_rich(grid)
    assert text.plain == "████\n████"
    styles = [str(span.style) for span in text.spans]
    assert styles == [arc.PALETTE[c] for c in (0, 1, 8, 9)]


def test_verify():
    a = np.array([[1, 2]], dtype=np.uint8)
    assert verify(a, a.copy())
    assert not verify(a, a.T)
    assert not verify(a, np.array([[1, 3]]))
    assert not verify(None, a)


# ----------------------------------------------------------------------- tokens


def test_encode_layout():
    grid = np.array([[0, 1, 2], [3, 4, 5]], dtype=np.uint8)
    canvas = encode_grid(grid, pad_r=1, pad_c=2).reshape(30, 30)
    assert canvas.dtype == np.uint8
    assert canvas[1:3, 2:5].tolist() == [[2, 3, 4], [5, 6, 7]]
    assert canvas[3, 2:5].tolist() == [1, 1, 1]  # row below the grid
    assert canvas[1:3, 5].tolist() == [1, 1]  # column right of the grid
    assert canvas[3, 5] == 0  # the corner stays pad
    assert np.count_nonzero(canvas) == 6 + 3 + 2


def test_encode_full_canvas_has_no_marker():
    grid = np.full((30, 30), 9, dtype=np.uint8)
    assert (encode_grid(grid) == 11).all()
    with pytest.raises(ValueError):
        encode_grid(grid, pad_r=1)


def test_decode_crops_like_the_original_evaluation():
    canvas = np.zeros((30, 30), dtype=np.uint8)
    canvas[0, :3] = canvas[1, :3] = canvas[2, :1] = 5
    np.testing.assert_array_equal(decode_grid(canvas), np.full((2, 3), 3))
    canvas = np.zeros((30, 30), dtype=np.uint8)
    canvas[0, :1] = canvas[1, :3] = canvas[2, :3] = 5
    np.testing.assert_array_equal(decode_grid(canvas), np.full((3, 1), 3))
    assert decode_grid(np.zeros(900, dtype=np.uint8)) is None
    assert decode_grid(np.ones(900, dtype=np.int64)) is None


grids = st.tuples(st.integers(1, 30), st.integers(1, 30)).flatmap(
    lambda shape: arrays(np.uint8, shape, elements=st.integers(0, 9))
)


@settings(max_examples=60, deadline=None)
@given(grids)
def test_encode_decode_round_trip(grid):
    np.testing.assert_array_equal(decode_grid(encode_grid(grid)), grid)


# ------------------------------------------------------------------ augmentation


@settings(max_examples=60, deadline=None)
@given(grids, grids, st.integers(0, 2**32 - 1), st.booleans())
def test_augmentation_keeps_pairs_valid_and_inverts(grid_in, grid_out, seed, legacy):
    rng = np.random.RandomState(seed) if legacy else np.random.default_rng(seed)
    task = ArcTask("abc", [ArcPair(grid_in, grid_out)], [ArcPair(grid_out, None)])
    variant, (tid, colour_map) = augment(task, rng)

    assert variant.id == augmentation_name("abc", tid, colour_map)
    assert parse_augmentation_name(variant.id)[0] == "abc"
    assert colour_map[0] == 0 and sorted(colour_map) == list(range(10))
    transposed = tid in (1, 3, 6, 7)
    for before, after in [(grid_in, variant.train[0].input),
                          (grid_out, variant.train[0].output),
                          (grid_out, variant.test[0].input)]:
        assert after.shape == (before.shape[::-1] if transposed else before.shape)
        assert after.dtype == np.uint8 and after.max() <= 9
        # Black stays black and nothing else becomes black.
        assert np.count_nonzero(after == 0) == np.count_nonzero(before == 0)
        np.testing.assert_array_equal(invert(after, tid, colour_map), before)
    assert variant.test[0].output is None


def test_seeded_augmentation_is_reproducible():
    task = ArcTask("abc", [ArcPair(np.arange(6, dtype=np.uint8).reshape(2, 3),
                                   np.ones((1, 1), np.uint8))], [])
    first = augment(task, np.random.RandomState(5))[0]
    second = augment(task, np.random.RandomState(5))[0]
    assert first.id == second.id


def test_augmentation_names_of_the_fixture():
    names = json.loads((FIXTURES / "arc-built" / "identifiers.json").read_text())
    for name in names[1:]:
        task, tid, colour_map = parse_augmentation_name(name)
        if "_" in name:
            assert augmentation_name(task, tid, colour_map) == name
        else:
            assert (task, tid) == (name, 0)
            assert colour_map.tolist() == list(range(10))


def test_invert_accepts_the_name_digits():
    grid = np.array([[0, 1, 2]], dtype=np.uint8)
    _, tid, colour_map = parse_augmentation_name("x_t4_0987654321")
    augmented = arc.augment_grid(grid, tid, colour_map)
    assert augmented.tolist() == [[8, 9, 0]]
    np.testing.assert_array_equal(invert(augmented, tid, "0987654321"), grid)


# ------------------------------------------------------------------------- voting


def variant_prediction(answer: np.ndarray, name: str, score: float):
    _, tid, colour_map = parse_augmentation_name(name)
    return name, arc.augment_grid(answer, tid, colour_map), score


def test_vote_ranks_by_count_then_mean_score():
    a = np.array([[1, 2], [0, 3]], dtype=np.uint8)
    b = np.array([[4]], dtype=np.uint8)
    c = np.array([[5, 5]], dtype=np.uint8)
    predictions = [
        variant_prediction(b, "t", 0.9),
        variant_prediction(a, "t_t1_0123456789", 0.1),
        variant_prediction(a, "t_t6_0918273645", 0.2),
        variant_prediction(c, "t_t2_0987654321", 0.8),
        ("t_t3_0123456789", None, 1.0),  # unreadable prediction: ignored
    ]
    top = vote(predictions)
    assert len(top) == 2
    np.testing.assert_array_equal(top[0], a)  # two votes beat one
    np.testing.assert_array_equal(top[1], b)  # then the higher mean score
    assert len(vote(predictions, top_k=5)) == 3


def test_vote_ties_keep_first_seen_and_empty():
    a, b = np.array([[1]], np.uint8), np.array([[2]], np.uint8)
    top = vote([("t", b, 0.5), ("t", a, 0.5)])
    assert [g.tolist() for g in top] == [[[2]], [[1]]]
    assert vote([]) == []
