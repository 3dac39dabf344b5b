"""Warm-up then cosine learning-rate schedule."""

from __future__ import annotations

import itertools
import math

import pytest

from hrm.train.schedule import lr_at

BASE, WARMUP, TOTAL = 1e-4, 100, 1000


@pytest.mark.parametrize("min_ratio", [0.0, 0.1, 1.0])
def test_warm_up_is_linear_from_zero(min_ratio: float):
    assert lr_at(0, BASE, WARMUP, TOTAL, min_ratio) == 0.0
    assert lr_at(1, BASE, WARMUP, TOTAL, min_ratio) == pytest.approx(BASE / WARMUP)
    assert lr_at(50, BASE, WARMUP, TOTAL, min_ratio) == pytest.approx(BASE / 2)
    assert lr_at(WARMUP, BASE, WARMUP, TOTAL, min_ratio) == pytest.approx(BASE)


@pytest.mark.parametrize("min_ratio", [0.0, 0.1, 0.5])
def test_cosine_decays_monotonically_to_min_ratio(min_ratio: float):
    rates = [lr_at(s, BASE, WARMUP, TOTAL, min_ratio) for s in range(WARMUP, TOTAL + 1)]
    assert all(b <= a for a, b in itertools.pairwise(rates))
    assert rates[-1] == pytest.approx(min_ratio * BASE)
    # Halfway through the decay the cosine is at its midpoint.
    middle = lr_at((WARMUP + TOTAL) // 2, BASE, WARMUP, TOTAL, min_ratio)
    assert middle == pytest.approx(BASE * (min_ratio + (1 - min_ratio) / 2))
    # Past the end the rate stays at the floor instead of rising again.
    assert lr_at(TOTAL + 300, BASE, WARMUP, TOTAL, min_ratio) == pytest.approx(min_ratio * BASE)


def test_min_ratio_one_is_constant_after_warm_up():
    assert {lr_at(s, BASE, WARMUP, TOTAL, 1.0) for s in range(WARMUP, TOTAL + 1, 37)} == {BASE}


def test_matches_the_original_formula():
    def original(step: int, min_ratio: float, num_cycles: float = 0.5) -> float:
        if step < WARMUP:
            return BASE * step / WARMUP
        progress = (step - WARMUP) / (TOTAL - WARMUP)
        cosine = 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress))
        return BASE * (min_ratio + max(0.0, (1 - min_ratio) * cosine))

    for step in range(0, TOTAL + 1, 7):
        assert lr_at(step, BASE, WARMUP, TOTAL, 0.2) == pytest.approx(original(step, 0.2))
        assert lr_at(step, BASE, WARMUP, TOTAL, 0.2, num_cycles=1.0) == pytest.approx(
            original(step, 0.2, 1.0))


def test_no_warm_up():
    assert lr_at(0, BASE, 0, TOTAL) == pytest.approx(BASE)
