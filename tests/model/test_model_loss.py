"""Stablemax cross-entropy and the ACT loss head."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from hrm.model import IGNORE_LABEL_ID, act_loss, stablemax_cross_entropy
from hrm.model.loss import log_stablemax, softmax_cross_entropy


def _s(x: float) -> float:
    return x + 1 if x >= 0 else 1 / (1 - x)


def test_stablemax_cross_entropy_matches_the_formula_in_float64():
    logits = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 0.0, 4.0]])
    labels = torch.tensor([0, IGNORE_LABEL_ID])
    loss = stablemax_cross_entropy(logits, labels)
    assert loss.dtype == torch.float64
    s = [_s(v) for v in (2.0, -1.0, 0.5)]
    assert loss[0].item() == pytest.approx(-math.log(s[0] / sum(s)), rel=1e-12)
    assert loss[1].item() == 0.0  # ignored position
    assert torch.allclose(log_stablemax(logits.double()).exp().sum(-1),
                          torch.ones(2, dtype=torch.float64))


def test_stablemax_gradient_is_finite_at_branch_points():
    logits = torch.tensor([[0.0, 1.0, -1.0, 1e6]], requires_grad=True)
    stablemax_cross_entropy(logits, torch.tensor([1])).sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_softmax_cross_entropy_option():
    logits = torch.randn(2, 3, 5)
    labels = torch.tensor([[1, 2, IGNORE_LABEL_ID], [0, 4, 3]])
    loss = softmax_cross_entropy(logits, labels)
    assert loss[0, 2] == 0
    assert loss[1, 1].item() == pytest.approx(-F.log_softmax(logits[1, 1], -1)[4].item(), rel=1e-5)


def _reference(outputs, labels, halted, steps):
    """The ACT loss head written out sequence by sequence."""
    lm, q_halt, q_cont = 0.0, 0.0, 0.0
    metrics = dict(count=0, accuracy=0.0, exact_accuracy=0, q_halt_accuracy=0, steps=0)
    for b in range(labels.shape[0]):
        mask = labels[b] != IGNORE_LABEL_ID
        n = int(mask.sum())
        token_loss = stablemax_cross_entropy(outputs["logits"][b], labels[b])
        lm += token_loss.sum().item() / max(n, 1)
        correct = (outputs["logits"][b].argmax(-1) == labels[b]) & mask
        exact = int(correct.sum()) == n
        q_halt += F.binary_cross_entropy_with_logits(
            outputs["q_halt_logits"][b], torch.tensor(float(exact))).item()
        q_cont += F.binary_cross_entropy_with_logits(
            outputs["q_continue_logits"][b], outputs["target_q_continue"][b]).item()
        if halted[b] and n > 0:
            metrics["count"] += 1
            metrics["accuracy"] += correct.sum().item() / n
            metrics["exact_accuracy"] += int(exact)
            metrics["q_halt_accuracy"] += int((outputs["q_halt_logits"][b] >= 0).item() == exact)
            metrics["steps"] += int(steps[b])
    return lm, q_halt, q_cont, metrics


def test_act_loss_matches_a_per_sequence_computation():
    torch.manual_seed(0)
    batch, seq, vocab = 5, 7, 4
    labels = torch.randint(0, vocab, (batch, seq))
    labels[:, :2] = IGNORE_LABEL_ID
    labels[4] = IGNORE_LABEL_ID  # a padding row: no labels at all
    logits = torch.randn(batch, seq, vocab, requires_grad=True)
    with torch.no_grad():  # make sequence 1 exactly right
        logits[1] += 10 * F.one_hot(labels[1].clamp(min=0), vocab) * (labels[1, :, None] >= 0)
    outputs = {
        "logits": logits,
        "q_halt_logits": torch.tensor([0.3, 1.0, -2.0, 0.1, 0.0], requires_grad=True),
        "q_continue_logits": torch.randn(batch, requires_grad=True),
        "target_q_continue": torch.rand(batch),
    }
    halted = torch.tensor([True, True, False, True, True])
    steps = torch.tensor([3, 1, 2, 16, 4], dtype=torch.int32)

    loss, metrics = act_loss(outputs, labels, halted, steps)
    lm, q_halt, q_cont, expected = _reference(outputs, labels, halted, steps)
    assert metrics["lm_loss"].dtype == torch.float64
    assert metrics["lm_loss"].item() == pytest.approx(lm, rel=1e-9)
    assert metrics["q_halt_loss"].item() == pytest.approx(q_halt, rel=1e-5)
    assert metrics["q_continue_loss"].item() == pytest.approx(q_cont, rel=1e-5)
    assert loss.item() == pytest.approx(lm + 0.5 * (q_halt + q_cont), rel=1e-6)
    for key, value in expected.items():
        assert metrics[key].item() == pytest.approx(value, rel=1e-6), key
    assert metrics["exact_accuracy"].item() == 1
    loss.backward()
    assert logits.grad is not None and torch.all(logits.grad[4] == 0)

    # Without a target (evaluation) the Q-continue term is absent.
    del outputs["target_q_continue"]
    eval_loss, eval_metrics = act_loss(outputs, labels, halted, steps)
    assert "q_continue_loss" not in eval_metrics
    assert eval_loss.item() == pytest.approx(lm + 0.5 * q_halt, rel=1e-6)


def test_raw_dataset_labels_can_be_scored_with_ignore_label_id_0():
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 5)
    raw = torch.randint(1, 5, (2, 6))
    raw[:, :2] = 0  # on disk: 0 = unlabelled
    mapped = torch.where(raw == 0, IGNORE_LABEL_ID, raw)  # what the data loader does
    outputs = {"logits": logits, "q_halt_logits": torch.zeros(2),
               "q_continue_logits": torch.zeros(2)}
    halted, steps = torch.ones(2, dtype=torch.bool), torch.ones(2, dtype=torch.int32)
    a, _ = act_loss(outputs, mapped, halted, steps)
    b, _ = act_loss(outputs, raw, halted, steps, ignore_label_id=0)
    assert a.item() == pytest.approx(b.item(), rel=1e-12)
    with pytest.raises(ValueError):
        act_loss(outputs, mapped, halted, steps, loss_type="hinge")
