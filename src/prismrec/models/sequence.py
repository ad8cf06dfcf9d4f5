"""Event encoder and causal transformer: a user's event sequence to per-position states.

Pure modules: tensors in, tensors out. Sequences are left-padded; item index 0 is padding.
"""

from __future__ import annotations

import torch
from torch import nn

from prismrec.models.dropout import Dropout

__all__ = ["CausalEncoder", "EventEncoder", "EventFeatures"]

EventFeatures = dict[str, torch.Tensor]  # name -> (B, L) long; "item_idx" is required


class EventEncoder(nn.Module):
    """Item vector + behaviour type + time-gap bucket + context embeddings + position.

    Args:
        embedding_dim: D.
        max_seq_len: L (learned positions, counted from the newest event).
        feature_sizes: name -> cardinality (index 0 = unknown/padding) for every non-item
            feature used, e.g. ``{"event_idx": 9, "gap_bucket": 10, "hour": 25, "ctx_device": 4}``.
        dropout: on the summed embedding.
    """

    def __init__(
        self,
        embedding_dim: int,
        max_seq_len: int,
        feature_sizes: dict[str, int],
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.features = nn.ModuleDict(
            {
                name.replace(".", "_"): nn.Embedding(size, embedding_dim, padding_idx=0)
                for name, size in feature_sizes.items()
            }
        )
        self.position = nn.Embedding(max_seq_len, embedding_dim)
        self.norm = nn.LayerNorm(embedding_dim)
        self.dropout = Dropout(dropout)
        # same scale as the item vectors, so no feature drowns the item signal at the start
        embeddings: list[nn.Embedding] = [*self.features.values(), self.position]  # type: ignore[list-item]
        for emb in embeddings:
            nn.init.normal_(emb.weight, std=0.02)
            if emb.padding_idx is not None:
                with torch.no_grad():
                    emb.weight[emb.padding_idx].zero_()

    def forward(self, item_vectors: torch.Tensor, batch: EventFeatures) -> torch.Tensor:
        """(B, L, D) event embeddings; ``item_vectors`` is (B, L, D) already looked up."""
        items = batch["item_idx"]  # (B, L)
        x = item_vectors  # (B, L, D)
        for name, emb in self.features.items():
            if name in batch:
                n = int(emb.num_embeddings)  # type: ignore[arg-type]
                x = x + emb(batch[name].clamp(0, n - 1))
        L = items.shape[1]
        # position 0 = newest event, so left padding never shifts real positions
        pos = torch.arange(L - 1, -1, -1, device=items.device)
        x = x + self.position(pos.clamp(max=self.position.num_embeddings - 1))[None]
        x = self.dropout(self.norm(x))
        return x * (items > 0).unsqueeze(-1)


class _Block(nn.Module):
    """Pre-LayerNorm transformer block."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(
            nn.Linear(d, 4 * d),
            nn.GELU(),
            Dropout(dropout),
            nn.Linear(4 * d, d),
            Dropout(dropout),
        )
        self.drop = Dropout(dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        a, _ = self.attn(h, h, h, attn_mask=attn_mask, need_weights=False)
        x = x + self.drop(a)
        return x + self.ff(self.ln2(x))


class CausalEncoder(nn.Module):
    """Causal self-attention over the event sequence; padding never changes real outputs."""

    def __init__(
        self, embedding_dim: int, n_layers: int = 2, n_heads: int = 2, dropout: float = 0.2
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            _Block(embedding_dim, n_heads, dropout) for _ in range(n_layers)
        )
        self.ln = nn.LayerNorm(embedding_dim)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """x (B, L, D), valid (B, L) bool -> (B, L, D) states (zeros at padding)."""
        B, L, _ = x.shape
        causal = torch.ones(L, L, dtype=torch.bool, device=x.device).triu(1)  # True = blocked
        # block attention to padding keys; a padded query attends to itself to stay finite
        block = causal[None] | ~valid[:, None, :]  # (B, L, L)
        eye = torch.eye(L, dtype=torch.bool, device=x.device)[None]
        block = block & ~(eye & ~valid[:, :, None])
        heads = int(self.blocks[0].attn.num_heads) if len(self.blocks) else 1  # type: ignore[union-attr,arg-type]
        mask = torch.zeros(B, L, L, device=x.device).masked_fill(block, float("-inf"))
        mask = mask.repeat_interleave(heads, dim=0)  # (B*H, L, L)
        for blk in self.blocks:
            x = blk(x, mask) * valid.unsqueeze(-1)
        return self.ln(x) * valid.unsqueeze(-1)
