"""Per-puzzle embeddings trained sparsely, as in the original release.

The table has one row per puzzle identifier (for ARC: every augmented variant of every
task, up to ~10^6 rows x 512), but a batch touches only a few hundred rows. Keeping the
table out of autograd and out of the dense optimizer avoids a dense gradient and dense
Adam state the size of the table. Instead:

- `weights` is a buffer (so `model.parameters()` excludes it and a checkpoint includes it);
- a training forward (grad enabled, module in training mode) gathers the batch's rows into
  `local_weights`, a fresh leaf tensor that requires grad, and remembers their `local_ids`;
- after `backward()`, `local_weights.grad` holds the gradient of each batch row (one row per
  sequence; an identifier that appears twice appears twice) and a sparse optimizer (the
  original uses sign-SGD with decoupled weight decay) updates `weights[local_ids]`.

`batch_rows()` returns those three tensors for the optimizer. Forwards without grad
(evaluation, the ACT target forward, inference) read `weights` directly and leave the
training state untouched.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from hrm.model.layers import trunc_normal_


class BatchRows(NamedTuple):
    """The rows used by the last training forward and their accumulated gradient."""

    ids: torch.Tensor  # (batch,) int64 identifiers (repeats possible)
    weights: torch.Tensor  # (batch, dim) float32 leaf the forward used
    grad: torch.Tensor | None  # (batch, dim) gradient, None before backward()


class SparsePuzzleEmbedding(nn.Module):
    """A `num_embeddings x embedding_dim` table whose training gradient is per batch row."""

    local_weights: torch.Tensor | None
    local_ids: torch.Tensor | None

    def __init__(self, num_embeddings: int, embedding_dim: int, init_std: float = 0.0):
        super().__init__()
        # Zero init (the original's choice): a new puzzle starts with no identity signal.
        self.register_buffer(
            "weights", trunc_normal_(torch.empty(num_embeddings, embedding_dim), std=init_std)
        )
        self.local_weights = None
        self.local_ids = None

    @property
    def num_embeddings(self) -> int:
        return self.weights.shape[0]

    @property
    def embedding_dim(self) -> int:
        return self.weights.shape[1]

    def forward(self, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        ids = ids.long()
        if not (self.training and torch.is_grad_enabled()):
            return self.weights[ids].to(dtype)
        # A fresh leaf per training forward: its .grad is exactly this batch's gradient.
        self.local_ids = ids.detach()
        self.local_weights = self.weights[ids].detach().requires_grad_(True)
        return self.local_weights.to(dtype)

    def batch_rows(self) -> BatchRows:
        """Ids, rows and gradient of the last training forward (for the sparse optimizer)."""
        if self.local_weights is None or self.local_ids is None:
            raise RuntimeError("no training forward has run since the last clear_batch_rows()")
        return BatchRows(self.local_ids, self.local_weights, self.local_weights.grad)

    def clear_batch_rows(self) -> None:
        """Forget the last batch (frees its autograd leaf)."""
        self.local_weights = None
        self.local_ids = None

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
