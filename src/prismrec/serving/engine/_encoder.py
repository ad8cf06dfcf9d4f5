"""The interest model at serving time: a cached item table, optional int8 weights."""

from __future__ import annotations

import logging
import threading
import warnings

import numpy as np
import torch
from torch import nn

from prismrec.models.interests import Interests
from prismrec.training.contract import SequenceModel
from prismrec.training.windows import pad_histories

__all__ = ["InterestEncoder", "quantize_int8"]

log = logging.getLogger(__name__)


def quantize_int8(net: nn.Module) -> nn.Module:
    """Dynamic int8 quantisation of every ``nn.Linear`` (weights int8, activations on the fly).

    The attention blocks' fused projections stay float (PyTorch does not quantise them
    dynamically); embeddings stay float.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notices
        return torch.ao.quantization.quantize_dynamic(net, {nn.Linear}, dtype=torch.qint8)


class InterestEncoder:
    """K interest vectors (and weights, attention) of one history, in one forward pass.

    Args:
        model: a loaded sequence model (``prism`` or ``sasrec``).
        quantize: ``"int8"`` or ``"none"``.
    """

    def __init__(self, model: SequenceModel, quantize: str = "none") -> None:
        self.model = model
        self.seq_len = int(model.seq_len)
        self.history_len = int(model.history_len)
        self.columns = ("item_idx", *model.feature_sizes)
        with torch.inference_mode():
            self.table = model.net.item_table().detach().clone()  # (N+1, D)
        self.net = quantize_int8(model.net) if quantize == "int8" else model.net
        self.net.eval()
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return int(self.table.shape[1])

    def item_vectors(self) -> np.ndarray:
        """(N+1, D) float32 copy of the item table (row 0: padding)."""
        return self.table.numpy().copy()

    def set_items(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Put vectors at item rows, growing the table for new rows."""
        rows = np.asarray(rows, np.int64)
        with self._lock:
            need = int(rows.max()) + 1 if len(rows) else 0
            table = self.table
            if need > len(table):
                grown = torch.zeros((max(need, len(table) + len(table) // 4), table.shape[1]))
                grown[: len(table)] = table
                table = grown
            else:
                table = table.clone()
            table[torch.as_tensor(rows)] = torch.as_tensor(vectors, dtype=table.dtype)
            self.table = table  # readers keep the old tensor: no torn reads

    @torch.inference_mode()
    def encode(self, history: dict[str, np.ndarray], user: int = -1) -> Interests:
        """Interests after the last event of ``history`` (feature arrays, item rows first)."""
        feats = pad_histories([history], self.columns, self.history_len)
        ub: dict[str, torch.Tensor] = {}
        for k, arr in self.model.user_attr_arrays.items():
            ub[k] = torch.as_tensor([int(arr[user]) if 0 <= user < len(arr) else 0])
        out = self.net(feats, items=self.table, user_batch=ub, last_only=True)
        att = out["attention"]
        return Interests(
            out["interests"][0, -1].numpy().copy(),
            out["weights"][0, -1].numpy().copy(),
            None if att is None else att[0, -1].numpy().copy(),
            self.model.long_term,
        )
