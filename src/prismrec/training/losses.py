"""Next-item objectives over (M, D) user vectors and an (N+1, D) item table.

- ``ce``: full softmax cross-entropy over every item (catalogues up to ~100k items).
- ``sampled``: sampled softmax with in-batch + uniform negatives and logQ correction.
- ``bce``: the sigmoid objective ``log sigma(<h, v+>) + sum log sigma(-<h, v->)`` with uniform
  negatives.

``candidates`` (N+1,) bool limits the items a loss may use as negatives to those known at
training time: an item that only arrives later (a cold item) must not be taught to lose, so its
content-only vector stays comparable with the warm items'.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "bce_loss",
    "bf16_is_native",
    "bucketed_einsum",
    "full_ce_loss",
    "interest_cosine",
    "interest_overlap",
    "interest_ownership_loss",
    "mixture_ce_loss",
    "mixture_ce_terms",
    "next_item_loss",
    "sampled_softmax_loss",
]


LogitBias = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def _draw(
    n_items: int,
    shape: tuple[int, ...],
    candidates: torch.Tensor | None,
    generator: torch.Generator | None,
    device: torch.device,
) -> torch.Tensor:
    """Uniform negatives over 1..N, or over the candidate items only."""
    if candidates is None:
        return torch.randint(1, n_items + 1, shape, generator=generator, device=device)
    pool = torch.nonzero(candidates, as_tuple=False).flatten()
    return pool[torch.randint(0, len(pool), shape, generator=generator, device=device)]


@functools.cache
def bf16_is_native(device: torch.device | None = None) -> bool:
    """Whether ``device`` multiplies bfloat16 in hardware: a GPU that supports it (Ampere and
    later), or a CPU with AVX-512 BF16 / AMX via oneDNN (None: the CPU)."""
    if device is not None and device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _matmul(users: torch.Tensor, items: torch.Tensor, low_precision: bool) -> torch.Tensor:
    """``users (M, K, D) x items (N, D)`` -> (M, K, N) logits.

    With ``low_precision`` the product runs in bfloat16 and the logits stay bfloat16 through the
    log-sum-exp (which accumulates in float32): on CPUs with native bf16 the output layer, the
    costliest part of a full-softmax step, takes less than half the time. The logits then carry
    about 3 significant digits, as in mixed-precision LLM training.
    """
    return bucketed_einsum("mkd,nd->mkn", users, items, low_precision)


ROW_BUCKET = 256
"""bfloat16 products pad their rows (the leading dimension) up to a multiple of this."""


def bucketed_einsum(eq: str, a: torch.Tensor, b: torch.Tensor, low_precision: bool) -> torch.Tensor:
    """``torch.einsum(eq, a, b)``, in bfloat16 with ``low_precision``; ``eq``'s output and
    ``a`` lead with the rows (M), and ``b`` too when its first letter is theirs.

    In bfloat16 the CPU product is oneDNN's, which compiles a kernel for every shape and
    caches it with its buffers: with a row count that changes every batch the cache grew by
    ~20 MB a step (amazon-video-sasrec: 2.9 GB resident after 60 steps, against 0.95 GB in
    float32). Padding the rows to a multiple of ``ROW_BUCKET`` leaves a few shapes, whose
    kernels are compiled once."""
    if not low_precision:
        return torch.einsum(eq, a, b)
    m = a.shape[0]
    pad = -m % ROW_BUCKET
    if pad:
        a = F.pad(a, (0, 0) * (a.dim() - 1) + (0, pad))
        if eq.split(",")[1][0] == eq[0]:
            b = F.pad(b, (0, 0) * (b.dim() - 1) + (0, pad))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = torch.einsum(eq, a, b)
    return out[:m] if pad else out


def _excluded(items: torch.Tensor, candidates: torch.Tensor | None) -> torch.Tensor:
    """(N+1,) True for the padding row and every item outside ``candidates``."""
    excluded = torch.zeros(items.shape[0], dtype=torch.bool, device=items.device)
    excluded[0] = True
    return excluded if candidates is None else excluded | ~candidates


def full_ce_loss(
    user: torch.Tensor,
    items: torch.Tensor,
    target: torch.Tensor,
    candidates: torch.Tensor | None = None,
    logit_bias: LogitBias | None = None,
    low_precision: bool = False,
    future: torch.Tensor | None = None,
    future_weight: float = 0.0,
) -> torch.Tensor:
    """user (M, D), items (N+1, D), target (M,) in 1..N; ``logit_bias`` is added (dense
    (M, N+1) or sparse, see :func:`mixture_ce_loss`), ``future`` as there.

    The one-interest case of :func:`mixture_ce_loss` (same formula, same code path).
    """
    ones = torch.ones(user.shape[0], 1, dtype=user.dtype, device=user.device)
    return mixture_ce_loss(
        user[:, None],
        ones,
        items,
        target,
        candidates,
        logit_bias,
        low_precision,
        future,
        future_weight,
    )


def mixture_ce_loss(*args: Any, **kwargs: Any) -> torch.Tensor:
    """The loss of :func:`mixture_ce_terms` alone (the same arguments)."""
    return mixture_ce_terms(*args, **kwargs)[0]


def mixture_ce_terms(
    interests: torch.Tensor,
    weights: torch.Tensor,
    items: torch.Tensor,
    target: torch.Tensor,
    candidates: torch.Tensor | None = None,
    logit_bias: LogitBias | None = None,
    low_precision: bool = False,
    future: torch.Tensor | None = None,
    future_weight: float = 0.0,
    fixed_rows: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``-log sum_k w_k softmax_k(target)``: the mixture-of-softmaxes NLL over the full catalogue.

    interests (M, K, D), weights (M, K), items (N+1, D), target (M,) in 1..N; ``logit_bias``
    is shared by every interest: dense (M, N+1), or sparse ``(ids, values)`` (M, S) each, ids
    in 0..N (repeated ids add up; 0, the padding row, stays excluded). Only the targets'
    log-probabilities are formed, so the (M, K, N+1) logits are read once by a log-sum-exp
    instead of being normalised in full.
    ``future`` (M, F): the items after the target (0: none); each row's loss then adds
    ``future_weight`` times the mean NLL of its future items under the same mixture (the set
    of items a user takes next, which one vector rarely covers alone).
    ``low_precision``: the logits in bfloat16 (see :func:`_matmul`). ``fixed_rows``: the
    first rows read the item vectors without moving them (their gradient reaches the rows
    only).

    Returns the loss and (M, K) each interest's own NLL of the target, ``-log softmax_k``
    (plus ``future_weight`` times the mean over the future items): what the one-interest loss
    of that row would be, read off the same logits for free.
    """
    excluded = _excluded(items, candidates)
    # the exclusion rides along the matmul as one more dimension: no separate masking pass
    mask_col = excluded.to(items.dtype)[:, None] * -1e9  # (N+1, 1)
    ones = torch.ones(interests.shape[:2] + (1,), dtype=interests.dtype, device=items.device)
    table = torch.cat([items, mask_col], -1)
    users = torch.cat([interests, ones], -1)
    if fixed_rows:
        logits = torch.cat(
            [
                _matmul(users[:, :fixed_rows], table.detach(), low_precision),
                _matmul(users[:, fixed_rows:], table, low_precision),
            ],
            1,
        )  # (M, K, N+1)
    else:
        logits = _matmul(users, table, low_precision)  # (M, K, N+1)
    if isinstance(logit_bias, tuple):
        logits = _add_sparse(logits, *logit_bias)
    elif logit_bias is not None:
        logits = logits + logit_bias.to(logits.dtype)[:, None, :]
    lse = torch.logsumexp(logits, dim=-1).float()  # (M, K)
    use_future = future is not None and future_weight > 0 and future.shape[1] > 0
    targets = target[:, None]
    if use_future and future is not None:
        targets = torch.cat([targets, future], 1)  # (M, 1 + F)
    # the targets' logits straight from their vectors: gathering them from the logits would
    # cost a dense (M, K, N+1) scatter in the backward pass
    wanted = items[targets]
    if fixed_rows:
        tgt = torch.cat(
            [
                bucketed_einsum(
                    "mkd,mjd->mkj", interests[:, :fixed_rows], wanted.detach(), low_precision
                ),
                bucketed_einsum("mkd,mjd->mkj", interests[:, fixed_rows:], wanted, low_precision),
            ],
            1,
        ).float()  # (M,K,J)
    else:
        tgt = bucketed_einsum("mkd,mjd->mkj", interests, wanted, low_precision).float()
    if isinstance(logit_bias, tuple):
        ids, vals = logit_bias  # (M, S) each
        hit = ids[:, None, :] == targets[:, :, None]  # (M, J, S)
        tgt = tgt + (vals[:, None, :] * hit).sum(-1).float()[:, None, :]
    elif logit_bias is not None:
        tgt = tgt + logit_bias.gather(1, targets).float()[:, None, :]
    logw = torch.log(weights.clamp_min(1e-9)).float()[:, :, None]  # (M, K, 1)
    own = tgt - lse[:, :, None]  # (M, K, J) each interest's log-probabilities
    logp = torch.logsumexp(logw + own, dim=1)  # (M, J)
    loss = -logp[:, 0]
    if use_future:
        real = (targets[:, 1:] > 0).float()  # (M, F)
        n_real = real.sum(1)
        fut = -(logp[:, 1:] * real).sum(1) / n_real.clamp_min(1.0)
        loss = loss + future_weight * torch.where(n_real > 0, fut, torch.zeros_like(fut))
        # each row's own loss over the same future set, as the one-interest loss forms it
        row_fut = -(own[:, :, 1:] * real[:, None]).sum(2) / n_real.clamp_min(1.0)[:, None]
        return loss.mean(), -own[:, :, 0] + future_weight * row_fut
    return loss.mean(), -own[:, :, 0]


def _add_sparse(logits: torch.Tensor, ids: torch.Tensor, vals: torch.Tensor) -> torch.Tensor:
    """Add ``vals`` (M, S) at items ``ids`` (M, S) of every interest's logits (M, K, N+1).

    One flat ``index_add`` into a copy of the logits: cheaper than building the dense (M, N+1)
    bias and broadcasting it over the interests, and its backward passes the logits' gradient
    through and gathers the values' (no reduction over K). Not in place: an in-place add on
    the matmul's output view makes autograd copy the whole gradient back.
    """
    M, K, n = logits.shape
    rows = torch.arange(M * K, device=logits.device).view(M, K, 1) * n
    flat = (rows + ids[:, None, :]).reshape(-1)
    src = vals.to(logits.dtype)[:, None, :].expand(-1, K, -1).reshape(-1)
    return logits.reshape(-1).index_add(0, flat, src).view(M, K, n)


def interest_overlap(
    interests: torch.Tensor,
    items: torch.Tensor,
    candidates: torch.Tensor | None = None,
    groups: torch.Tensor | None = None,
    low_precision: bool = False,
) -> torch.Tensor:
    """Mean pairwise cosine between the K interests' distributions over categories.

    interests (M, K, D), items (N+1, D); ``groups`` (N+1, C) spreads each item's probability over
    its categories (rows sum to 1, or 0 for an item without one); ``None`` compares the item
    distributions themselves. 0 when every interest keeps to categories of its own, 1 when all
    put their mass alike. Cosine rather than the raw overlap, so flattening the distributions
    (ranking worse) does not lower it.
    """
    K = interests.shape[1]
    logits = _matmul(interests, items, low_precision).float()  # (M, K, N+1)
    excluded = _excluded(items, candidates)
    p = torch.softmax(logits.masked_fill(excluded, float("-inf")), dim=-1)
    if groups is not None:
        p = p @ groups  # (M, K, C)
    p = F.normalize(p, dim=-1)
    cos = torch.einsum("mkc,mjc->mkj", p, p)  # (M, K, K)
    off = cos.sum((1, 2)) - cos.diagonal(dim1=1, dim2=2).sum(-1)
    return (off / (K * (K - 1))).mean()


def interest_ownership_loss(
    interests: torch.Tensor,
    events: torch.Tensor,
    assignment: torch.Tensor,
    active: torch.Tensor | None = None,
) -> torch.Tensor:
    """Backward flow from interests to the events they own (Re4-style).

    interests (B, K, D) at one position, events (B, S, D) the window's item vectors, assignment
    (B, S, K) each event's share per interest (rows sum to 1 on real events, 0 on padding).
    Cross-entropy of ``softmax_k(v_k . e_s / sqrt(D))`` against the assignment: an event must be
    recognised by the interest that owns it rather than by the others, so each interest points
    at its own part of the history instead of at what all of them share. ``active`` (B, K):
    the interests each user has (dynamic K); the others do not compete.
    """
    d = interests.shape[-1]
    logits = torch.einsum("bkd,bsd->bsk", interests, events) / d**0.5  # (B, S, K)
    if active is not None:
        logits = logits.masked_fill(~active[:, None, :], -1e4)
    real = assignment.sum(-1) > 0.5  # (B, S)
    if not bool(real.any()):
        return interests.sum() * 0.0
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(assignment[real] * logp[real]).sum(-1).mean()


def interest_cosine(interests: torch.Tensor, active: torch.Tensor | None = None) -> torch.Tensor:
    """Mean pairwise cosine of the K interest vectors, each pair's counted from 0 up (an
    orthogonal pair costs nothing; pushing pairs to opposite directions gains nothing):
    interests (M, K, D) -> scalar. ``active`` (M, K): only the pairs of interests a row has
    count (dynamic K), over the rows with two or more."""
    K = interests.shape[1]
    v = F.normalize(interests.float(), dim=-1)
    cos = torch.einsum("mkd,mjd->mkj", v, v).clamp(min=0.0)
    if active is None:
        off = cos.sum((1, 2)) - cos.diagonal(dim1=1, dim2=2).sum(-1)
        return (off / (K * (K - 1))).mean()
    a = active.float()
    cos = cos * a[:, :, None] * a[:, None, :]
    off = cos.sum((1, 2)) - cos.diagonal(dim1=1, dim2=2).sum(-1)
    n = a.sum(1)
    rows = n >= 2
    if not bool(rows.any()):
        return interests.sum() * 0.0
    return (off[rows] / (n[rows] * (n[rows] - 1))).mean()


def sampled_softmax_loss(
    user: torch.Tensor,
    items: torch.Tensor,
    target: torch.Tensor,
    n_negatives: int,
    item_freq: torch.Tensor,
    generator: torch.Generator | None = None,
    candidates: torch.Tensor | None = None,
) -> torch.Tensor:
    """In-batch + uniform negatives, each logit corrected by ``-log Q`` (its sampling rate).

    ``item_freq`` (N+1,) is each item's share of training targets (in-batch sampling rate per
    draw); uniform draws pick each of the n candidate items with probability ``1/n``.
    """
    M, n = target.shape[0], items.shape[0] - 1
    neg = _draw(n, (n_negatives,), candidates, generator, target.device)
    n_pool = int(candidates.sum()) if candidates is not None else n
    cand = torch.cat([target, neg])  # (M + S,)
    logits = user @ items[cand].T  # (M, M + S)
    q = M * item_freq[cand] + n_negatives / n_pool  # expected draws of each candidate
    logits = logits - torch.log(q.clamp_min(1e-12))[None]
    # a candidate equal to the row's own target is only the positive on the diagonal
    hit = cand[None, :] == target[:, None]
    hit[torch.arange(M), torch.arange(M)] = False
    logits = logits.masked_fill(hit, float("-inf"))
    return F.cross_entropy(logits, torch.arange(M, device=target.device))


def bce_loss(
    user: torch.Tensor,
    items: torch.Tensor,
    target: torch.Tensor,
    n_negatives: int,
    generator: torch.Generator | None = None,
    candidates: torch.Tensor | None = None,
) -> torch.Tensor:
    """Binary cross-entropy with one positive and ``n_negatives`` uniform negatives per row."""
    M, n = target.shape[0], items.shape[0] - 1
    pos = (user * items[target]).sum(-1)  # (M,)
    neg_idx = _draw(n, (M, n_negatives), candidates, generator, target.device)
    neg = torch.einsum("md,mnd->mn", user, items[neg_idx])  # (M, S)
    neg = neg.masked_fill(neg_idx == target[:, None], float("-inf"))
    return -(F.logsigmoid(pos).mean() + F.logsigmoid(-neg).sum(-1).mean())


def next_item_loss(
    kind: str,
    user: torch.Tensor,
    items: torch.Tensor,
    target: torch.Tensor,
    n_negatives: int = 256,
    item_freq: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    candidates: torch.Tensor | None = None,
    logit_bias: LogitBias | None = None,
    low_precision: bool = False,
    future: torch.Tensor | None = None,
    future_weight: float = 0.0,
) -> torch.Tensor:
    """Dispatch on ``kind`` (``ce`` | ``sampled`` | ``bce``); ``logit_bias``,
    ``low_precision`` and the ``future`` set are ``ce`` only."""
    if kind == "ce":
        return full_ce_loss(
            user, items, target, candidates, logit_bias, low_precision, future, future_weight
        )
    if kind == "sampled":
        if item_freq is None:
            raise ValueError("sampled softmax needs item_freq")
        return sampled_softmax_loss(
            user, items, target, n_negatives, item_freq, generator, candidates
        )
    if kind == "bce":
        return bce_loss(user, items, target, n_negatives, generator, candidates)
    raise ValueError(f"unknown loss {kind!r}; expected ce, sampled or bce")
