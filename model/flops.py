"""FLOPs of a training step, counted by torch on a real one, for any architecture.

Comparisons "at equal training compute" need one count that means the same thing for HRM,
TRM and the grid model. Rather than a formula per architecture, this runs one real ACT
training step (forward, the Q-learning target where there is one, the loss and backward)
under `torch.utils.flop_counter.FlopCounterMode`, which counts matrix products,
convolutions and attention. Element-wise work (norms, activations, the optimizer) is not
counted, as is usual for FLOP budgets.

Every training step costs the same: each row runs exactly one segment per step whatever
its halting, so steps x one step's count is the run's training FLOPs.
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from hrm.model.architectures import build_model
from hrm.model.config import ModelConfig
from hrm.model.loss import act_loss


def _attention(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _attention_backward(grad_out_shape, query_shape, key_shape, value_shape, *args,
                        out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


# torch has attention formulas for its CUDA kernels only; on the CPU,
# scaled_dot_product_attention dispatches to these ops instead.
_aten = torch.ops.aten
CPU_ATTENTION = {
    _aten._scaled_dot_product_flash_attention_for_cpu: _attention,
    _aten._scaled_dot_product_flash_attention_for_cpu_backward: _attention_backward,
}


def training_step_flops(config: ModelConfig, batch: int, seed: int = 0) -> int:
    """FLOPs of one `hrm train` step of a `config` model on `batch` sequences."""
    generator = torch.Generator().manual_seed(seed)
    model = build_model(config)
    model.train()
    shape = (batch, config.seq_len)
    # Token 0 is padding for every task; the grid model skips nothing for it (it masks),
    # so any non-zero tokens give the count of a full grid.
    data = {
        "inputs": torch.randint(1, config.vocab_size, shape, generator=generator),
        "labels": torch.randint(1, config.vocab_size, shape, generator=generator),
        "puzzle_identifiers": torch.zeros(batch, dtype=torch.int32),
    }
    carry = model.initial_carry(data)
    with FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION) as counter:
        carry, outputs = model(carry, data)
        loss, _ = act_loss(outputs, carry.current_data["labels"], carry.halted, carry.steps)
        loss.backward()
    return counter.get_total_flops()


def segment_flops(config: ModelConfig, batch: int = 1) -> int:
    """FLOPs of one inference segment of a `config` model on `batch` sequences."""
    model = build_model(config).eval()
    inputs = torch.randint(1, config.vocab_size, (batch, config.seq_len),
                           generator=torch.Generator().manual_seed(0))
    z_H, z_L = model.initial_state(batch)
    ids = torch.zeros(batch, dtype=torch.int32)
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION) as counter:
        model.segment(z_H, z_L, inputs, ids)
    return counter.get_total_flops()
