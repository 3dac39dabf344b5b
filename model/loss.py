"""Losses of HRM ACT v1: stablemax cross-entropy and the ACT loss head.

Label convention: positions whose label is `IGNORE_LABEL_ID` (-100, as in the original)
carry no loss. On disk, datasets mark unlabelled positions with `ignore_label_id` from
`dataset.json` (0, the pad token, for every task); the data loader must map those labels
to -100 before they reach `act_loss` (the original's loader does exactly that). The pad
token 0 is never a real answer token, so nothing is lost. Pass `ignore_label_id=0` to
score raw on-disk labels directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F

IGNORE_LABEL_ID = -100

LossFn = Callable[..., torch.Tensor]


def _stablemax_s(x: torch.Tensor) -> torch.Tensor:
    # s(x) = x + 1 for x >= 0 and 1 / (1 - x) for x < 0: positive, monotone, and only
    # linear (not exponential) in x, so large logits cannot overflow. Each branch sees a
    # clamped input so the branch torch.where discards cannot produce inf/NaN gradients.
    return torch.where(x < 0, 1 / (1 - x.clamp(max=0)), x.clamp(min=0) + 1)


def log_stablemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log(s(x) / sum(s(x))): the stablemax analogue of log_softmax."""
    s = _stablemax_s(x)
    return torch.log(s / s.sum(dim=dim, keepdim=True))


def stablemax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor,
                            ignore_index: int = IGNORE_LABEL_ID) -> torch.Tensor:
    """Per-position stablemax cross-entropy in float64; 0 where `labels == ignore_index`.

    Float64 because stablemax probabilities of wrong tokens decay only polynomially, and
    the paper found float32 loss unstable late in training.
    """
    logprobs = log_stablemax(logits.to(torch.float64), dim=-1)
    valid = labels != ignore_index
    safe_labels = torch.where(valid, labels, 0).long()  # any in-range index; masked below
    picked = logprobs.gather(-1, safe_labels.unsqueeze(-1)).squeeze(-1)
    return -torch.where(valid, picked, 0)


def softmax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor,
                          ignore_index: int = IGNORE_LABEL_ID) -> torch.Tensor:
    """Per-position softmax cross-entropy in float32; 0 where `labels == ignore_index`."""
    flat = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                           labels.long().reshape(-1), ignore_index=ignore_index,
                           reduction="none")
    return flat.view(labels.shape)


LOSS_FUNCTIONS: dict[str, LossFn] = {
    "stablemax_cross_entropy": stablemax_cross_entropy,
    "softmax_cross_entropy": softmax_cross_entropy,
}


def act_loss(
    outputs: Mapping[str, torch.Tensor],
    labels: torch.Tensor,
    halted: torch.Tensor,
    steps: torch.Tensor,
    loss_type: str = "stablemax_cross_entropy",
    ignore_label_id: int = IGNORE_LABEL_ID,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The original ACT loss head for one segment: (total loss, metrics).

    `outputs` is what `HRM.forward` returns (`logits`, `q_halt_logits`, `q_continue_logits`
    and, in training, `target_q_continue`); `labels`, `halted` and `steps` come from the
    returned carry (`carry.current_data["labels"]`, `carry.halted`, `carry.steps`).

    - lm_loss: per-token loss averaged over each sequence's labelled tokens, summed over
      the batch (every sequence, halted or not; sequences without labels add 0).
    - q_halt_loss: BCE(q_halt, "the whole sequence is exactly right"), summed.
    - q_continue_loss: BCE(q_continue, target_q_continue), summed; only when a target is
      given (training). Total = lm + 0.5 * (q_halt + q_continue).

    Metrics are sums over sequences that halted this segment and have labels (divide by
    `count`; `lm_loss`/`q_*_loss` are batch sums, as the original logs them):
    count, accuracy (per-sequence token accuracy), exact_accuracy, q_halt_accuracy
    (q_halt >= 0 agrees with exactness), steps (segments used), lm_loss, q_halt_loss and,
    with a target, q_continue_loss.
    """
    if loss_type not in LOSS_FUNCTIONS:
        raise ValueError(f"unknown loss_type {loss_type!r}; choose from {list(LOSS_FUNCTIONS)}")
    logits = outputs["logits"]
    q_halt_logits = outputs["q_halt_logits"]

    with torch.no_grad():
        mask = labels != ignore_label_id
        counts = mask.sum(-1)
        divisor = counts.clamp_min(1).unsqueeze(-1)  # sequences without labels: 0, not NaN
        is_correct = mask & (logits.argmax(-1) == labels)
        seq_correct = is_correct.sum(-1) == counts

        valid = halted & (counts > 0)
        metrics: dict[str, torch.Tensor] = {
            "count": valid.sum(),
            "accuracy": torch.where(valid, (is_correct.float() / divisor).sum(-1), 0).sum(),
            "exact_accuracy": (valid & seq_correct).sum(),
            "q_halt_accuracy": (valid & ((q_halt_logits >= 0) == seq_correct)).sum(),
            "steps": torch.where(valid, steps, 0).sum(),
        }

    token_loss = LOSS_FUNCTIONS[loss_type](logits, labels, ignore_index=ignore_label_id)
    lm_loss = (token_loss / divisor).sum()
    q_halt_loss = F.binary_cross_entropy_with_logits(
        q_halt_logits, seq_correct.to(q_halt_logits.dtype), reduction="sum"
    )
    metrics["lm_loss"] = lm_loss.detach()
    metrics["q_halt_loss"] = q_halt_loss.detach()

    q_loss = q_halt_loss
    if "target_q_continue" in outputs:
        q_continue_loss = F.binary_cross_entropy_with_logits(
            outputs["q_continue_logits"], outputs["target_q_continue"], reduction="sum"
        )
        metrics["q_continue_loss"] = q_continue_loss.detach()
        q_loss = q_halt_loss + q_continue_loss

    return lm_loss + 0.5 * q_loss, metrics
