"""What HRM and TRM share around their levels: a flattened puzzle in, a token per cell out.

Both read the puzzle as a sequence of `seq_len` tokens behind an optional puzzle-embedding
prefix, add RoPE or a learned position table, and read the answer (`lm_head`) and the
halting logits (`q_head`) off their slow state. `SequenceModel` builds these layers, under
the original release's names, and turns inputs into the sequence the levels see; the
architecture builds its levels in `build_levels`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from hrm.model.act import ACTModel
from hrm.model.layers import CastedEmbedding, CastedLinear, RotaryEmbedding, trunc_normal_
from hrm.model.sparse_embedding import SparsePuzzleEmbedding


class SequenceModel(ACTModel):
    """An ACT model over a flattened puzzle of `config.seq_len` tokens.

    The config provides `hidden_size`, `vocab_size`, `num_puzzle_identifiers`,
    `puzzle_emb_ndim`, `total_len` (prefix + tokens), `pos_encodings` ("rope", "learned"
    or "none"), `head_dim` and `rope_theta`.
    """

    def __init__(self, config: Any, prefix_len: int):
        super().__init__()
        self.config = config
        self.prefix_len = prefix_len
        hidden = config.hidden_size

        # Token embeddings are scaled up by sqrt(hidden) at use, so init them at
        # 1/sqrt(hidden): unit-variance inputs, but embedding-sized weight updates.
        self.embed_scale = math.sqrt(hidden)
        embed_std = 1.0 / self.embed_scale
        self.embed_tokens = CastedEmbedding(config.vocab_size, hidden, init_std=embed_std)
        self.lm_head = CastedLinear(hidden, config.vocab_size, bias=False)
        self.q_head = CastedLinear(hidden, 2, bias=True)  # (halt, continue) logits

        self.puzzle_emb: SparsePuzzleEmbedding | None = None
        if config.puzzle_emb_ndim > 0:
            self.puzzle_emb = SparsePuzzleEmbedding(
                config.num_puzzle_identifiers, config.puzzle_emb_ndim, init_std=0.0)

        self.rotary_emb: RotaryEmbedding | None = None
        self.embed_pos: CastedEmbedding | None = None
        if config.pos_encodings == "rope":
            self.rotary_emb = RotaryEmbedding(config.head_dim, config.total_len,
                                              config.rope_theta)
        elif config.pos_encodings == "learned":
            self.embed_pos = CastedEmbedding(config.total_len, hidden, init_std=embed_std)

        self.build_levels()

        # Starting states: fixed random vectors (not trained), broadcast to every position.
        self.register_buffer("H_init", trunc_normal_(torch.empty(hidden), std=1.0))
        self.register_buffer("L_init", trunc_normal_(torch.empty(hidden), std=1.0))

        # Q head starts almost constant (zero weights, bias -5: sigmoid ~ 0.007), so early
        # training is not disturbed by a random halting policy.
        with torch.no_grad():
            self.q_head.weight.zero_()
            assert self.q_head.bias is not None
            self.q_head.bias.fill_(-5.0)

    def build_levels(self) -> None:
        """Create the architecture's levels (called between the input layers and the
        starting states, so that a seed gives the same weights as the original's order)."""
        raise NotImplementedError

    def initial_state(self, batch_size: int,
                      seq_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_H, z_L) for fresh sequences: H_init/L_init at every position."""
        shape = (batch_size, self.config.total_len, self.config.hidden_size)
        dtype = self.forward_dtype
        return (self.H_init.to(dtype).expand(shape).clone(),
                self.L_init.to(dtype).expand(shape).clone())

    def input_embeddings(self, inputs: torch.Tensor,
                         puzzle_identifiers: torch.Tensor) -> torch.Tensor:
        """(batch, total_len, hidden): puzzle-embedding prefix + token embeddings, scaled."""
        dtype = self.forward_dtype
        x = self.embed_tokens(inputs.long(), dtype)
        if self.puzzle_emb is not None:
            batch, hidden = inputs.shape[0], self.config.hidden_size
            prefix = self.puzzle_emb(puzzle_identifiers, dtype)
            # Zero-pad to a whole number of positions, then fold into positions.
            pad = self.prefix_len * hidden - prefix.shape[-1]
            if pad > 0:
                prefix = nn.functional.pad(prefix, (0, pad))
            x = torch.cat((prefix.view(batch, self.prefix_len, hidden), x), dim=1)
        if self.embed_pos is not None:
            # Sum of two unit-variance terms: scale by 1/sqrt(2) to keep unit variance.
            x = math.sqrt(0.5) * (x + self.embed_pos.embedding_weight.to(dtype))
        return self.embed_scale * x
