"""Learning-rate schedule of the original recipe: linear warm-up, then cosine decay."""

from __future__ import annotations

import math


def lr_at(step: int, base_lr: float, warmup_steps: int, total_steps: int,
          min_ratio: float = 0.0, num_cycles: float = 0.5) -> float:
    """The learning rate for optimizer step `step`.

    - `step < warmup_steps`: `base_lr * step / warmup_steps` (0 at step 0).
    - then cosine from `base_lr` down to `min_ratio * base_lr` at `total_steps`:
      `base_lr * (min_ratio + (1 - min_ratio) * (1 + cos(2 * pi * num_cycles * progress)) / 2)`
      with `progress = (step - warmup_steps) / (total_steps - warmup_steps)`.

    The original counts steps from 1 (it increments its counter before computing the rate),
    so its first update uses `lr_at(1, ...)`. `num_cycles = 0.5` is a half cosine (the
    original never changes it); `min_ratio = 1` gives a constant rate after warm-up (its
    ARC recipe). Unlike the original formula, progress is clamped at 1, so steps past
    `total_steps` keep the final rate instead of climbing back up the cosine (the original
    simply never takes them).
    """
    if step < warmup_steps:
        return base_lr * step / max(1, warmup_steps)
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    cosine = 0.5 * (1.0 + math.cos(2.0 * math.pi * num_cycles * progress))
    return base_lr * (min_ratio + max(0.0, (1.0 - min_ratio) * cosine))
