"""Adapting pretrained vectors: whitening + mixture-of-experts adaptor, optional LoRA fine-tuning.

By default the pretrained encoder stays frozen and :class:`MoEAdaptor` (UniSRec, Hou et al. 2022:
parametric whitening experts mixed by a gate) maps its vectors into the model's space. To adapt
the encoder itself, :class:`LoRAEncoder` adds LoRA adapters (through ``peft``) to its top layers
only; everything else stays frozen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from prismrec.errors import ConfigError
from prismrec.models.dropout import Dropout

__all__ = ["LoRAEncoder", "MoEAdaptor", "ParametricWhitening"]


class ParametricWhitening(nn.Module):
    """``(x - b) W``: a learnable centre ``b`` and projection ``W`` (UniSRec's PWLayer)."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = Dropout(dropout)
        self.bias = nn.Parameter(torch.zeros(in_dim))
        self.linear = nn.Linear(in_dim, out_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, in_dim) -> (N, out_dim)
        return self.linear(self.dropout(x) - self.bias)


class MoEAdaptor(nn.Module):
    """A softmax-gated mixture of :class:`ParametricWhitening` experts.

    Args:
        in_dim: dimension of the pretrained vectors.
        out_dim: output dimension (the model's ``embedding_dim``).
        n_experts: number of whitening experts.
        dropout: dropout on the input of each expert.
        noisy_gating: add learned Gaussian noise to the gate logits while training.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        n_experts: int = 8,
        dropout: float = 0.2,
        noisy_gating: bool = True,
    ) -> None:
        super().__init__()
        self.experts = nn.ModuleList(
            ParametricWhitening(in_dim, out_dim, dropout) for _ in range(n_experts)
        )
        self.w_gate = nn.Parameter(torch.zeros(in_dim, n_experts))
        self.w_noise = nn.Parameter(torch.zeros(in_dim, n_experts))
        self.noisy_gating = noisy_gating

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        """Expert weights (N, n_experts), rows summing to 1."""
        logits = x @ self.w_gate  # (N, E)
        if self.noisy_gating and self.training:
            std = F.softplus(x @ self.w_noise) + 1e-2
            logits = logits + torch.randn_like(logits) * std
        return logits.softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, in_dim)
        g = self.gates(x)  # (N, E)
        out = torch.stack([e(x) for e in self.experts], dim=-2)  # (N, E, out_dim)
        return (g.unsqueeze(-1) * out).sum(dim=-2)  # (N, out_dim)

    @torch.no_grad()
    def set_centre(self, mean: torch.Tensor) -> None:
        """Start every expert's whitening centre at the data mean (optional, before training)."""
        for e in self.experts:
            assert isinstance(e, ParametricWhitening)
            e.bias.copy_(mean)


class LoRAEncoder(nn.Module):
    """A Hugging Face transformer with LoRA adapters on its top layers; mean-pooled output.

    Only the LoRA weights of the last ``top_layers`` layers are trainable. The transformer is
    passed in (e.g. ``TextEncoder.load()[0].auto_model``), so this module does no file IO.

    Args:
        transformer: a model whose forward takes ``input_ids`` and ``attention_mask`` and returns
            ``last_hidden_state``, with ``config.num_hidden_layers``.
        top_layers: how many of the last layers get adapters.
        r: LoRA rank.
        alpha: LoRA scaling numerator.
        dropout: LoRA dropout.
        target_modules: names of the linear layers to adapt (BERT: query, key, value, dense).
        layers_pattern: the name of the layer list in the module path (BERT: ``layer``).
        normalize: L2-normalise the pooled vectors, as sentence-transformers models do.
    """

    def __init__(
        self,
        transformer: nn.Module,
        top_layers: int = 1,
        r: int = 8,
        alpha: int = 16,
        dropout: float = 0.0,
        target_modules: Sequence[str] = ("query", "value"),
        layers_pattern: str = "layer",
        normalize: bool = True,
    ) -> None:
        super().__init__()
        from peft import LoraConfig, get_peft_model

        config: Any = getattr(transformer, "config", None)
        if config is None or not hasattr(config, "num_hidden_layers"):
            raise ConfigError(
                "LoRAEncoder needs a Hugging Face transformer (with config."
                "num_hidden_layers), e.g. TextEncoder.transformer_and_tokenizer()[0]"
            )
        n_layers = int(config.num_hidden_layers)
        if not 1 <= top_layers <= n_layers:
            raise ConfigError(
                f"top_layers must be between 1 and {n_layers} (the model's layer "
                f"count), got {top_layers}"
            )
        lora = LoraConfig(
            r=r,
            lora_alpha=alpha,
            lora_dropout=dropout,
            target_modules=list(target_modules),
            layers_to_transform=list(range(n_layers - top_layers, n_layers)),
            layers_pattern=layers_pattern,
        )
        self.model: Any = get_peft_model(transformer, lora)
        self.normalize = normalize

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # input_ids, attention_mask: (N, T)
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (N, T, 1)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)  # (N, H)
        return F.normalize(pooled, dim=-1) if self.normalize else pooled
