"""AdamATan2 and the sparse sign-SGD for puzzle embeddings, including 2 gloo processes."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from ports import unused_port

from hrm.model.sparse_embedding import SparsePuzzleEmbedding
from hrm.train.optim import AdamATan2, SparseSignSGD, sparse_sign_sgd_

# ----------------------------------------------------------------------------------------
# AdamATan2
# ----------------------------------------------------------------------------------------


def expected_adam_atan2(p0, grads, lr, beta1, beta2, wd, a, b):
    """The update rule written out element by element in float64 Python."""
    p, m, v = list(p0), [0.0] * len(p0), [0.0] * len(p0)
    for t, g in enumerate(grads, start=1):
        for i, gi in enumerate(g):
            p[i] *= 1 - lr * wd
            m[i] = beta1 * m[i] + (1 - beta1) * gi
            v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
            m_hat = m[i] / (1 - beta1**t)
            v_hat = v[i] / (1 - beta2**t)
            p[i] -= lr * a * math.atan2(m_hat, b * math.sqrt(v_hat))
    return p


def run_adam(p0: torch.Tensor, grads: list[torch.Tensor], **kwargs) -> torch.Tensor:
    p = torch.nn.Parameter(p0.clone())
    optimizer = AdamATan2([p], **kwargs)
    for g in grads:
        p.grad = g.clone()
        optimizer.step()
    return p.detach()


@pytest.mark.parametrize("a, b, wd", [(1.0, 1.0, 0.0), (1.0, 1.0, 0.5), (1.27, 2.0, 0.1)])
def test_adam_atan2_matches_the_written_out_rule(a: float, b: float, wd: float):
    gen = torch.Generator().manual_seed(0)
    p0 = torch.randn(6, dtype=torch.float64, generator=gen)
    grads = [torch.randn(6, dtype=torch.float64, generator=gen) * 10**k for k in (-3, 0, 2, -1)]
    grads[1][2] = 0.0  # a zero gradient mid-run
    lr, betas = 0.05, (0.9, 0.95)
    got = run_adam(p0, grads, lr=lr, betas=betas, weight_decay=wd, a=a, b=b)
    want = expected_adam_atan2(p0.tolist(), [g.tolist() for g in grads], lr, *betas, wd, a, b)
    assert got.tolist() == pytest.approx(want, rel=1e-12, abs=1e-14)


def test_adam_atan2_defaults_are_the_originals_kernel():
    group = AdamATan2([torch.nn.Parameter(torch.zeros(1))]).param_groups[0]
    assert (group["a"], group["b"], group["betas"]) == (1.0, 1.0, (0.9, 0.95))


def test_adam_atan2_steps_are_bounded_and_gradient_scale_free():
    gen = torch.Generator().manual_seed(1)
    p0 = torch.randn(50, generator=gen)
    grads = [torch.randn(50, generator=gen) for _ in range(5)]
    lr, a = 0.01, 1.27
    reference = run_adam(p0, grads, lr=lr, weight_decay=0.0, a=a)
    for scale in (1e-6, 1e6):
        scaled = run_adam(p0, [g * scale for g in grads], lr=lr, weight_decay=0.0, a=a)
        torch.testing.assert_close(scaled, reference, rtol=0, atol=1e-6)
    # Each step moves an element by at most lr * a * pi / 2, even for huge gradients.
    p = torch.nn.Parameter(p0.clone())
    optimizer = AdamATan2([p], lr=lr, weight_decay=0.0, a=a)
    for g in grads:
        before = p.detach().clone()
        p.grad = g * 1e30
        optimizer.step()
        assert (p.detach() - before).abs().max() <= lr * a * math.pi / 2 * (1 + 1e-6)


def test_adam_atan2_weight_decay_is_decoupled():
    p0 = torch.tensor([2.0, -3.0, 0.5], dtype=torch.float64)
    lr, wd = 0.1, 0.3
    # With zero gradients only the decay acts: p * (1 - lr * wd) per step.
    decayed = run_adam(p0, [torch.zeros(3, dtype=torch.float64)] * 4, lr=lr, weight_decay=wd)
    torch.testing.assert_close(decayed, p0 * (1 - lr * wd) ** 4, rtol=1e-14, atol=0)
    # The decay never enters the moments: same state with or without it.
    grads = [torch.randn(3, dtype=torch.float64) for _ in range(3)]
    states = []
    for weight_decay in (0.0, wd):
        p = torch.nn.Parameter(p0.clone())
        optimizer = AdamATan2([p], lr=lr, weight_decay=weight_decay)
        for g in grads:
            p.grad = g.clone()
            optimizer.step()
        states.append(optimizer.state[p])
    assert torch.equal(states[0]["exp_avg"], states[1]["exp_avg"])
    assert torch.equal(states[0]["exp_avg_sq"], states[1]["exp_avg_sq"])


def test_adam_atan2_resumes_identically_from_a_state_dict():
    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    inputs = torch.randn(5, 8, 4)

    def train(model, optimizer, steps):
        for i in steps:
            optimizer.zero_grad()
            model(inputs[i]).square().sum().backward()
            optimizer.step()

    optimizer = AdamATan2(model.parameters(), lr=0.01, weight_decay=0.1)
    train(model, optimizer, range(3))
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optim": optimizer.state_dict()}, buffer)
    train(model, optimizer, range(3, 5))

    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    resumed.load_state_dict(saved["model"])
    resumed_optimizer = AdamATan2(resumed.parameters(), lr=0.01, weight_decay=0.1)
    resumed_optimizer.load_state_dict(saved["optim"])
    train(resumed, resumed_optimizer, range(3, 5))
    for x, y in zip(model.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(x, y)


def test_adam_atan2_updates_bfloat16_parameters_in_float32():
    p0 = torch.tensor([1.0, -1.0, 0.25])
    grads = [torch.tensor([0.3, -0.2, 0.1])] * 2
    full = run_adam(p0, grads, lr=0.01, weight_decay=0.1)
    half = run_adam(p0.bfloat16(), [g.bfloat16() for g in grads], lr=0.01, weight_decay=0.1)
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half.float(), full, rtol=1e-2, atol=1e-2)


# ----------------------------------------------------------------------------------------
# Sparse sign-SGD
# ----------------------------------------------------------------------------------------


def expected_sign_sgd(table: np.ndarray, ids, grads, lr: float, wd: float) -> np.ndarray:
    """Sum each id's gradients, then decay and step each touched row once."""
    table = table.astype(np.float64).copy()
    totals: dict[int, np.ndarray] = {}
    for i, g in zip(ids, grads, strict=True):
        totals[int(i)] = totals.get(int(i), 0) + np.asarray(g, dtype=np.float64)
    for i, g in totals.items():
        table[i] = table[i] * (1 - lr * wd) - lr * np.sign(g)
    return table


def test_sign_sgd_sums_repeated_ids_before_the_sign():
    table = torch.zeros(4, 2)
    ids = torch.tensor([2, 2, 1])
    grads = torch.tensor([[1.0, -3.0], [1.0, 1.0], [-0.5, 0.0]])
    touched = sparse_sign_sgd_(table, ids, grads, lr=0.1, weight_decay=0.0)
    assert touched.tolist() == [1, 2]
    # id 2: summed gradient (2, -2) -> sign (1, -1). Signing each row first would give
    # (2, 0) after summing.
    torch.testing.assert_close(table, torch.tensor([[0, 0], [0.1, 0], [-0.1, 0.1], [0, 0]]))


def test_sign_sgd_decays_and_steps_only_touched_rows():
    gen = torch.Generator().manual_seed(3)
    table = torch.randn(10, 3, generator=gen)
    before = table.clone()
    ids = torch.tensor([7, 3, 7, 0, 3])
    grads = torch.randn(5, 3, generator=gen)
    grads[3] = 0.0  # row 0 is touched with a zero gradient: decay only
    lr, wd = 0.02, 0.5
    sparse_sign_sgd_(table, ids, grads, lr=lr, weight_decay=wd)
    want = expected_sign_sgd(before.numpy(), ids.tolist(), grads.numpy(), lr, wd)
    np.testing.assert_allclose(table.numpy(), want, rtol=1e-6, atol=1e-7)
    untouched = [i for i in range(10) if i not in (0, 3, 7)]
    assert torch.equal(table[untouched], before[untouched])  # no decay either
    torch.testing.assert_close(table[0], before[0] * (1 - lr * wd))


def embedding_step(embedding: SparsePuzzleEmbedding, optimizer: SparseSignSGD,
                   ids: torch.Tensor, coefficients: torch.Tensor) -> None:
    """One training step whose embedding gradient is `coefficients` (per batch row)."""
    embedding.train()
    rows = embedding(ids, torch.float32)
    (rows * coefficients).sum().backward()
    optimizer.step()
    optimizer.zero_grad()


def batch(seed: int, size: int = 8, num: int = 6, dim: int = 4):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, num, (size,), generator=gen)
    return ids, torch.randn(size, dim, generator=gen)


def fresh_embedding(num: int = 6, dim: int = 4) -> SparsePuzzleEmbedding:
    embedding = SparsePuzzleEmbedding(num, dim)
    embedding.weights.copy_(torch.randn(num, dim, generator=torch.Generator().manual_seed(9)))
    return embedding


def test_sparse_sign_sgd_optimizer_on_a_puzzle_embedding():
    embedding = fresh_embedding()
    optimizer = SparseSignSGD(embedding, lr=0.0, weight_decay=0.1)
    optimizer.step()  # no training forward yet: nothing to do
    before = embedding.weights.clone()
    ids, coefficients = batch(0)
    optimizer.param_groups[0]["lr"] = 0.03  # set by the schedule each step
    embedding_step(embedding, optimizer, ids, coefficients)
    want = expected_sign_sgd(before.numpy(), ids.tolist(), coefficients.numpy(), 0.03, 0.1)
    np.testing.assert_allclose(embedding.weights.numpy(), want, rtol=1e-6, atol=1e-7)
    assert embedding.local_ids is None  # zero_grad() released the batch rows

    restored = SparseSignSGD(fresh_embedding(), lr=1.0, weight_decay=0.0)
    restored.load_state_dict(optimizer.state_dict())
    assert restored.param_groups[0]["lr"] == 0.03
    assert restored.param_groups[0]["weight_decay"] == 0.1


def gloo_worker(rank: int, world: int, port: int, out: str, steps: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        embedding = fresh_embedding()
        optimizer = SparseSignSGD(embedding, lr=0.05, weight_decay=0.2)
        local = 8 // world
        for step in range(steps):
            ids, coefficients = batch(step)  # the global batch; this rank keeps its slice
            part = slice(rank * local, (rank + 1) * local)
            embedding_step(embedding, optimizer, ids[part], coefficients[part])
        torch.save(embedding.weights, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_apply_the_update_of_the_whole_batch(tmp_path: Path):
    steps = 3
    mp.spawn(gloo_worker, args=(2, unused_port(), str(tmp_path), steps), nprocs=2, join=True)
    tables = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert torch.equal(tables[0], tables[1])

    single = fresh_embedding()
    optimizer = SparseSignSGD(single, lr=0.05, weight_decay=0.2)
    for step in range(steps):
        embedding_step(single, optimizer, *batch(step))
    assert torch.equal(tables[0], single.weights)
    # The gather matters: ranks updating on their own halves would disagree.
    ids, _ = batch(0)
    assert set(ids[:4].tolist()) & set(ids[4:].tolist())
