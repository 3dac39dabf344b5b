"""Optimizers of the original recipe, in plain torch.

- `AdamATan2` for the dense weights: Adam whose step is `atan2(m_hat, b * sqrt(v_hat))`
  instead of `m_hat / (sqrt(v_hat) + eps)`. No epsilon to tune, and every element moves at
  most `lr * a * pi / 2` per step, however small or large its gradient.
- `SparseSignSGD` for the puzzle-embedding table (`hrm.model.SparsePuzzleEmbedding`):
  sign-SGD with decoupled weight decay on the rows the batch used. Adam is close to
  sign-SGD when a row gets a gradient only every few thousand steps, and sign-SGD needs no
  per-row state the size of the table.

Both keep their learning rate in `param_groups[0]["lr"]`, so one schedule loop sets both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.distributed as dist
from torch.optim import Optimizer

from hrm.model.sparse_embedding import SparsePuzzleEmbedding

_LOW_PRECISION = (torch.float16, torch.bfloat16)


class AdamATan2(Optimizer):
    """Adam-atan2 with decoupled weight decay (the update of the `adam_atan2` package).

    Per parameter, at step t (1-based), in this order:

        p  <- p * (1 - lr * weight_decay)
        m  <- beta1 * m + (1 - beta1) * g
        v  <- beta2 * v + (1 - beta2) * g^2
        p  <- p - lr * a * atan2(m / (1 - beta1^t), b * sqrt(v / (1 - beta2^t)))

    `a = b = 1` is exactly the fused kernel the original imports (`adam_atan2`, which has no
    a/b knobs); the paper proposing atan2 suggests a = 1.27 to match Adam's typical step
    size. Half-precision parameters are updated in float32 and stored back.
    """

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.95), weight_decay: float = 1e-2,
                 a: float = 1.0, b: float = 1.0):
        if lr < 0:
            raise ValueError(f"learning rate must be >= 0, not {lr}")
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"betas must be in [0, 1), not {betas}")
        if weight_decay < 0:
            raise ValueError(f"weight decay must be >= 0, not {weight_decay}")
        if a <= 0 or b <= 0:
            raise ValueError(f"a and b must be positive, not {a} and {b}")
        defaults = {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay,
                    "a": a, "b": b}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, wd, a, b = group["lr"], group["weight_decay"], group["a"], group["b"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("AdamATan2 does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p,
                                                           memory_format=torch.preserve_format)
                state["step"] += 1
                t = state["step"].item()

                param, grad = p, p.grad
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                if p.dtype in _LOW_PRECISION:
                    param, grad = p.float(), grad.float()
                    exp_avg, exp_avg_sq = exp_avg.float(), exp_avg_sq.float()

                param.mul_(1 - lr * wd)
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                m_hat = exp_avg / (1 - beta1**t)
                v_hat_sqrt = (exp_avg_sq / (1 - beta2**t)).sqrt_()
                param.add_(torch.atan2(m_hat, v_hat_sqrt.mul_(b)), alpha=-lr * a)

                if param is not p:  # low precision: store the float32 results back
                    p.copy_(param)
                    state["exp_avg"].copy_(exp_avg)
                    state["exp_avg_sq"].copy_(exp_avg_sq)
        return loss


@torch.no_grad()
def sparse_sign_sgd_(weights: torch.Tensor, ids: torch.Tensor, grad: torch.Tensor, lr: float,
                     weight_decay: float, group: dist.ProcessGroup | None = None) -> torch.Tensor:
    """Sign-SGD with decoupled weight decay on the rows `ids` of `weights`, in place.

    `ids` (n,) and `grad` (n, dim) are this rank's batch rows (an id may repeat). When
    torch.distributed is initialised, every rank gathers all ranks' ids and gradients first,
    so every replica applies the same update. Gradients of repeated ids are summed, then
    each touched row becomes `row * (1 - lr * weight_decay) - lr * sign(summed grad)`;
    untouched rows do not change (no decay either). Returns the touched ids (sorted).
    """
    ids = ids.reshape(-1).long()
    grad = grad.reshape(ids.shape[0], -1)
    world_size = dist.get_world_size(group) if dist.is_available() and dist.is_initialized() else 1
    if world_size > 1:
        # all_gather (not all_gather_into_tensor) works on gloo as well as NCCL. Every rank
        # has the same local batch size, as the data loader guarantees.
        all_ids = [torch.empty_like(ids) for _ in range(world_size)]
        all_grads = [torch.empty_like(grad) for _ in range(world_size)]
        dist.all_gather(all_ids, ids.contiguous(), group=group)
        dist.all_gather(all_grads, grad.contiguous(), group=group)
        ids, grad = torch.cat(all_ids), torch.cat(all_grads)

    touched, inverse = ids.unique(return_inverse=True)
    summed = torch.zeros(touched.shape[0], grad.shape[1], dtype=grad.dtype, device=grad.device)
    summed.index_add_(0, inverse, grad)

    rows = weights[touched]
    rows.mul_(1 - lr * weight_decay).add_(summed.sign().to(rows.dtype), alpha=-lr)
    weights[touched] = rows
    return touched


class SparseSignSGD(Optimizer):
    """`sparse_sign_sgd_` on a `SparsePuzzleEmbedding`, with the usual optimizer surface.

    `step()` reads the embedding's last training batch (`batch_rows()`) and updates its
    `weights` table; `zero_grad()` forgets that batch. The table is this optimizer's only
    "param" so `param_groups[0]["lr"]` is set by the schedule like any optimizer's, and
    `state_dict()` holds just the hyperparameters (sign-SGD keeps no per-row state).
    In a distributed run every rank must call `step()` (it gathers across ranks).
    """

    def __init__(self, embedding: SparsePuzzleEmbedding, lr: float = 1e-2,
                 weight_decay: float = 0.1, group: dist.ProcessGroup | None = None):
        if lr < 0:
            raise ValueError(f"learning rate must be >= 0, not {lr}")
        if weight_decay < 0:
            raise ValueError(f"weight decay must be >= 0, not {weight_decay}")
        super().__init__([embedding.weights], {"lr": lr, "weight_decay": weight_decay})
        self.embedding = embedding
        self.group = group

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self.embedding.local_ids is None:
            return loss  # no training forward since the last zero_grad(): nothing to do
        ids, _, grad = self.embedding.batch_rows()
        if grad is None:
            raise RuntimeError("the puzzle embedding has no gradient: call backward() first")
        group = self.param_groups[0]
        sparse_sign_sgd_(self.embedding.weights, ids, grad, group["lr"],
                         group["weight_decay"], self.group)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.embedding.clear_batch_rows()
