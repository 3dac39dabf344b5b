"""Importing checkpoints of the original HRM release."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from model_helpers import OFFICIAL_FIXTURE, random_batch, tiny_model

from hrm.datasets.tasks import release_seq_len
from hrm.model import HRM, CheckpointError, act_loss, import_official, read_official_config
from hrm.model.official import parse_simple_yaml

PREFIX = "_orig_mod.model.inner."


def RELEASE_HINT(data_path, vocab_size):
    """The sequence length the release's tasks give a RoPE checkpoint (hrm.model knows no
    tasks: the store passes this hint)."""
    return release_seq_len(None, data_path, vocab_size)


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(OFFICIAL_FIXTURE / "reference_outputs.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def official_model() -> HRM:
    return import_official(OFFICIAL_FIXTURE, seq_len_hint=RELEASE_HINT)


def test_fixture_config_is_inferred(official_model):
    c = official_model.config
    assert (c.vocab_size, c.seq_len, c.num_puzzle_identifiers) == (11, 81, 3)
    assert (c.hidden_size, c.num_heads, c.mlp_inner_size) == (64, 4, 256)
    assert (c.H_layers, c.L_layers, c.H_cycles, c.L_cycles) == (2, 2, 2, 2)
    assert (c.pos_encodings, c.puzzle_emb_ndim, c.halt_max_steps) == ("rope", 64, 4)
    assert c.halt_exploration_prob == 0.1
    assert not official_model.training


def test_fixture_rollout_reproduces_the_reference(official_model, reference):
    """Acceptance test: logits and Q logits of every segment, and the loss values."""
    inputs = torch.from_numpy(reference["inputs"])
    ids = torch.from_numpy(reference["puzzle_identifiers"])
    labels = torch.from_numpy(reference["labels"]).long()
    steps = list(official_model.rollout(inputs, ids, halt="max"))
    assert len(steps) == reference["logits"].shape[0] == 4
    for i, step in enumerate(steps):
        np.testing.assert_allclose(step.logits.numpy(), reference["logits"][i], rtol=0, atol=1e-4)
        np.testing.assert_allclose(step.q_halt_logits.numpy(), reference["q_halt_logits"][i],
                                   rtol=0, atol=1e-4)
        np.testing.assert_allclose(step.q_continue_logits.numpy(),
                                   reference["q_continue_logits"][i], rtol=0, atol=1e-4)
        np.testing.assert_array_equal(step.steps.numpy(), reference["steps"][i])
        np.testing.assert_array_equal(step.halted.numpy(), reference["halted"][i])

        outputs = {"logits": step.logits, "q_halt_logits": step.q_halt_logits,
                   "q_continue_logits": step.q_continue_logits}
        total, metrics = act_loss(outputs, labels, step.halted, step.steps)
        np.testing.assert_allclose(metrics["lm_loss"].item(), reference["lm_loss"][i], rtol=1e-5)
        np.testing.assert_allclose(metrics["q_halt_loss"].item(), reference["q_halt_loss"][i],
                                   rtol=1e-5)
        np.testing.assert_allclose(total.item(), reference["total_loss"][i], rtol=1e-5)


def test_fixture_through_the_act_forward(official_model, reference):
    batch = {"inputs": torch.from_numpy(reference["inputs"]),
             "labels": torch.from_numpy(reference["labels"]),
             "puzzle_identifiers": torch.from_numpy(reference["puzzle_identifiers"])}
    carry = official_model.initial_carry(batch)
    with torch.no_grad():
        for i in range(4):
            carry, outputs = official_model(carry, batch)
            np.testing.assert_allclose(outputs["logits"].numpy(), reference["logits"][i],
                                       rtol=0, atol=1e-4)
            np.testing.assert_array_equal(carry.halted.numpy(), reference["halted"][i])


def test_checkpoint_file_path_and_run_folder(tmp_path, official_model):
    direct = import_official(OFFICIAL_FIXTURE / "checkpoint", seq_len_hint=RELEASE_HINT)
    assert direct.config == official_model.config
    # A training run's folder: step_<N> files, the latest wins.
    state = torch.load(OFFICIAL_FIXTURE / "checkpoint", weights_only=True)
    (tmp_path / "all_config.yaml").write_text((OFFICIAL_FIXTURE / "all_config.yaml").read_text())
    torch.save(state, tmp_path / "step_100")
    changed = dict(state)
    changed[PREFIX + "q_head.bias"] = torch.tensor([1.0, 2.0])
    torch.save(changed, tmp_path / "step_2000")
    model = import_official(tmp_path, seq_len_hint=RELEASE_HINT)
    assert model.q_head.bias.tolist() == [1.0, 2.0]


def _export_original(model: HRM, folder: Path, data_path: str = "data/x") -> Path:
    """Save `model` the way the original training script does: keys and all_config.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {PREFIX + k: v.clone() for k, v in model.state_dict().items()}
    # The release trains in bfloat16, and H_init/L_init are created in that dtype.
    for key in ("H_init", "L_init"):
        state[PREFIX + key] = state[PREFIX + key].bfloat16()
    torch.save(state, folder / "checkpoint")
    c = model.config
    (folder / "all_config.yaml").write_text(
        "arch:\n"
        f"  H_cycles: {c.H_cycles}\n  H_layers: {c.H_layers}\n"
        f"  L_cycles: {c.L_cycles}\n  L_layers: {c.L_layers}\n"
        f"  expansion: {c.expansion:g}\n"
        f"  halt_exploration_prob: {c.halt_exploration_prob}\n"
        f"  halt_max_steps: {c.halt_max_steps}\n  hidden_size: {c.hidden_size}\n"
        "  loss:\n    loss_type: stablemax_cross_entropy\n    name: losses@ACTLossHead\n"
        "  name: hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1\n"
        f"  num_heads: {c.num_heads}\n  pos_encodings: {c.pos_encodings}\n"
        f"  puzzle_emb_ndim: {c.puzzle_emb_ndim}\n"
        f"data_path: {data_path}\neval_save_outputs: []\nlr: 7.0e-05\n"
    )
    return folder


def _round_trip(model: HRM, folder: Path, **kwargs) -> HRM:
    with torch.no_grad():  # bfloat16-representable initial states, as in the release
        model.H_init.copy_(model.H_init.bfloat16())
        model.L_init.copy_(model.L_init.bfloat16())
    kwargs.setdefault("seq_len_hint", RELEASE_HINT)
    imported = import_official(_export_original(model, folder), **kwargs)
    batch = random_batch(model.config, 3)
    ours = list(model.rollout(batch["inputs"], batch["puzzle_identifiers"]))
    theirs = list(imported.rollout(batch["inputs"], batch["puzzle_identifiers"]))
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a.logits, b.logits)
        assert torch.equal(a.q_halt_logits, b.q_halt_logits)
    return imported


def test_learned_positions_give_the_sequence_length(tmp_path):
    model = tiny_model(pos_encodings="learned", seq_len=30, vocab_size=6)
    imported = _round_trip(model, tmp_path)
    assert imported.config.pos_encodings == "learned"
    assert imported.config.seq_len == 30  # 31 table rows - 1 puzzle position
    assert imported.config == model.config


def test_multi_position_puzzle_embedding(tmp_path):
    # ndim 80 on hidden 32: three prefix positions, zero-padded; learned positions too.
    model = tiny_model(puzzle_emb_ndim=80, pos_encodings="learned", num_puzzle_identifiers=7)
    imported = _round_trip(model, tmp_path / "learned")
    assert imported.prefix_len == 3
    assert imported.config.num_puzzle_identifiers == 7
    assert imported.config.seq_len == 81
    rope = tiny_model(puzzle_emb_ndim=80, vocab_size=20, seq_len=50)
    assert _round_trip(rope, tmp_path / "rope", seq_len=50).config.puzzle_emb_len == 3


def test_no_puzzle_embedding(tmp_path):
    model = tiny_model(puzzle_emb_ndim=0)
    imported = _round_trip(model, tmp_path)
    assert imported.puzzle_emb is None and imported.config.puzzle_emb_ndim == 0


@pytest.mark.parametrize(("kwargs", "data_path", "vocab", "expected"), [
    ({"seq_len": 81}, "data/x", 11, 81),
    ({"task": "maze"}, "data/x", 11, 900),
    ({}, "data/maze-30x30-hard-1k", 11, 900),
    ({}, "data/arc-aug-1000", 11, 900),
    ({}, "data/x", 11, 81),  # vocab 11 = sudoku
    ({}, "data/x", 6, 900),  # vocab 6 = maze
])
def test_rope_sequence_length_hints(tmp_path, kwargs, data_path, vocab, expected):
    # The hints come from the task table, through the store's import of a release.
    from hrm.inference.store import import_release

    seq_len = kwargs.get("seq_len", expected)
    model = tiny_model(vocab_size=vocab, seq_len=seq_len)
    folder = _export_original(model, tmp_path, data_path=data_path)
    if "seq_len" in kwargs:
        assert import_official(folder, **kwargs).config.seq_len == expected
    else:
        assert import_release(folder, kwargs.get("task")).config.seq_len == expected


def test_rope_sequence_length_hint_is_the_callers(tmp_path):
    folder = _export_original(tiny_model(vocab_size=11, seq_len=81), tmp_path,
                              data_path="data/x")
    seen = []

    def hint(data_path, vocab_size):
        seen.append((data_path, vocab_size))
        return 81

    assert import_official(folder, seq_len_hint=hint).config.seq_len == 81
    assert seen == [("data/x", 11)]


def test_rope_sequence_length_unknown(tmp_path):
    folder = _export_original(tiny_model(vocab_size=20, seq_len=16), tmp_path)
    with pytest.raises(CheckpointError, match="pass seq_len="):
        import_official(folder, seq_len_hint=RELEASE_HINT)
    assert import_official(folder, seq_len=16).config.seq_len == 16


def _corrupt(tmp_path: Path, edit) -> Path:
    folder = _export_original(tiny_model(), tmp_path)
    state = torch.load(folder / "checkpoint", weights_only=True)
    edit(state)
    torch.save(state, folder / "checkpoint")
    return folder


def test_import_errors_name_the_file_and_problem(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        import_official(tmp_path / "nothing", seq_len_hint=RELEASE_HINT)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no `checkpoint`"):
        import_official(tmp_path / "empty", seq_len_hint=RELEASE_HINT)

    folder = _corrupt(tmp_path / "a", lambda s: s.pop(PREFIX + "lm_head.weight"))
    with pytest.raises(CheckpointError, match=r"missing tensor.*lm_head.weight") as info:
        import_official(folder, seq_len_hint=RELEASE_HINT)
    assert str(info.value).startswith(str(folder / "checkpoint"))
    assert "\n" not in str(info.value)

    folder = _corrupt(tmp_path / "b", lambda s: s.update({PREFIX + "extra.weight": torch.ones(1)}))
    with pytest.raises(CheckpointError, match=r"unexpected tensor.*extra.weight"):
        import_official(folder, seq_len_hint=RELEASE_HINT)

    def reshape(state):
        key = PREFIX + "L_level.layers.0.mlp.down_proj.weight"
        state[key] = state[key][:, :100].clone()
    with pytest.raises(CheckpointError, match=r"down_proj.weight has shape"):
        import_official(_corrupt(tmp_path / "c", reshape), seq_len_hint=RELEASE_HINT)

    folder = _export_original(tiny_model(), tmp_path / "d")
    (folder / "all_config.yaml").unlink()
    with pytest.raises(CheckpointError, match=r"all_config.yaml: missing"):
        import_official(folder, seq_len_hint=RELEASE_HINT)

    folder = _export_original(tiny_model(), tmp_path / "e")
    text = (folder / "all_config.yaml").read_text().replace("pos_encodings: rope",
                                                           "pos_encodings: learned")
    (folder / "all_config.yaml").write_text(text)
    with pytest.raises(CheckpointError, match="position table is absent"):
        import_official(folder, seq_len_hint=RELEASE_HINT)


class _NotATensor:
    pass


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_only_weights_only_pickles_are_loaded(tmp_path):
    folder = _export_original(tiny_model(), tmp_path)
    with open(folder / "checkpoint", "wb") as handle:
        pickle.dump({"x": _NotATensor()}, handle)
    with pytest.raises(CheckpointError, match="weights-only"):
        import_official(folder, seq_len_hint=RELEASE_HINT)
    (folder / "checkpoint").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="weights-only"):
        import_official(folder, seq_len_hint=RELEASE_HINT)


def test_read_official_config():
    config = read_official_config(OFFICIAL_FIXTURE)
    assert config["arch"]["loss"]["loss_type"] == "stablemax_cross_entropy"
    assert config["lr"] == 7e-5 and config["eval_save_outputs"] == []


YAML_SAMPLES = [
    (OFFICIAL_FIXTURE / "all_config.yaml").read_text(),
    "a: 1\nb:\n- x\n- 'y z'\nc: {}\nd: null\ne: true\nf: -2.5e-3\ng: \"q # r\"  # note\n",
    "# comment\narch:\n  nested:\n    deep: 3\n  flag: false\nlist: [1, two, 3.0]\nneg: -7\n",
]


@pytest.mark.parametrize("text", YAML_SAMPLES)
def test_yaml_subset_reader_agrees_with_pyyaml(text):
    yaml = pytest.importorskip("yaml")  # a test-time cross-check only, not a dependency
    assert parse_simple_yaml(text) == yaml.safe_load(text)


@pytest.mark.parametrize("text", ["a: &x 1\n", "a: |\n  text\n", "a:\n  - b: 1\n", "a\n",
                                  "a: 1\n    b: 2\n"])
def test_yaml_subset_reader_rejects_what_it_cannot_read(text):
    with pytest.raises(ValueError, match="line"):
        parse_simple_yaml(text)


def test_bfloat16_forward_on_cpu_stays_close_to_float32(reference):
    model = import_official(OFFICIAL_FIXTURE, seq_len_hint=RELEASE_HINT, forward_dtype="bfloat16")
    inputs = torch.from_numpy(reference["inputs"])
    ids = torch.from_numpy(reference["puzzle_identifiers"])
    steps = list(model.rollout(inputs, ids))
    assert model.forward_dtype == torch.bfloat16
    assert model.initial_state(1)[0].dtype == torch.bfloat16
    assert steps[0].logits.dtype == torch.float32  # records are float32 whatever the compute
    agree = (steps[0].predictions.numpy() == reference["logits"][0].argmax(-1)).mean()
    assert agree > 0.9
    np.testing.assert_allclose(steps[0].q_halt_logits.numpy(), reference["q_halt_logits"][0],
                               atol=0.1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fixture_on_cuda(reference):
    model = import_official(OFFICIAL_FIXTURE, seq_len_hint=RELEASE_HINT).cuda()
    assert model.forward_dtype == torch.bfloat16  # "auto" on a GPU
    inputs = torch.from_numpy(reference["inputs"]).cuda()
    ids = torch.from_numpy(reference["puzzle_identifiers"]).cuda()
    first = next(model.rollout(inputs, ids))
    agree = (first.predictions.cpu().numpy() == reference["logits"][0].argmax(-1)).mean()
    assert agree > 0.9

    exact = import_official(OFFICIAL_FIXTURE, seq_len_hint=RELEASE_HINT,
                            forward_dtype="float32").cuda()
    for step in exact.rollout(inputs, ids):
        np.testing.assert_allclose(step.logits.cpu().numpy(), reference["logits"][step.segment],
                                   rtol=0, atol=1e-3)
