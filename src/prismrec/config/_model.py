"""The ``[model]`` section: model hyper-parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from prismrec.config._base import Section

__all__ = ["ModelConfig"]


class ModelConfig(Section):
    """``[model]``: model hyper-parameters; each model reads the keys it knows (tuned defaults)."""

    embedding_dim: int = Field(64, ge=1, description="width of item, event and interest vectors")
    n_layers: int = Field(2, ge=0, description="transformer layers of the sequence encoder")
    n_heads: int = Field(2, ge=1, description="attention heads per transformer layer")
    dropout: float = Field(0.2, ge=0.0, lt=1.0, description="dropout of the sequence encoder")
    max_seq_len: int | None = Field(None, ge=1, description="None: the dataset's max_seq_len")
    n_interests: int = Field(4, ge=1, description="K: interest vectors per user (prism)")
    extractor: Literal["sa", "dr", "route"] = Field(
        "route",
        description="how K > 1 interests are drawn from the history: 'route' (each event "
        "routed to one long-term interest by soft k-means over item vectors, balanced so the "
        "interests share the history; each interest pools its own events; with short_term the "
        "transformer's current state is one more component: distinct interests), 'sa' (ComiRec "
        "self-attention over the transformer states, the current state gated into each: the "
        "interests come out as near-copies) or 'dr' (capsule routing)",
    )
    routing_temperature: float = Field(
        0.1, gt=0.0, description="extractor='route': softmax temperature of event routing"
    )
    routing_balance: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="extractor='route': pull towards equal shares of the history per interest "
        "(1: exact Sinkhorn balance; 0: none)",
    )
    ownership_weight: float = Field(
        0.3,
        ge=0.0,
        description="extractor='route': weight of the loss that makes each interest recognise "
        "the events it owns rather than the others' events",
    )
    short_term: bool = Field(
        True,
        description="extractor='route': the transformer's current state is a mixture component "
        "of its own (the short-term interest) next to the K long-term interests, which then stay "
        "pooled from their own events",
    )
    short_term_weight: float = Field(
        1.0,
        ge=0.0,
        description="extractor='route' with short_term: weight of the short-term interest's own "
        "next-item loss, next to the mixture's",
    )
    long_term_weight: float = Field(
        0.3,
        ge=0.0,
        description="extractor='route' with short_term: weight of a next-item loss on the "
        "long-term interest nearest each target, so each retrieves the items of its facet",
    )
    interest_positions: float = Field(
        0.25,
        gt=0.0,
        le=1.0,
        description="extractor='route' with short_term: share of each batch's targets the "
        "long-term interests are routed at and the mixture and long-term losses read (whole "
        "positions, drawn each step, the latest always); the short-term loss reads all",
    )
    long_term_norm: bool = Field(
        True,
        description="extractor='route': each long-term interest is its events' direction "
        "times a learned length, so its softmax over the items is as sharp as the short-term "
        "row's even where item vectors are small (ID-only data); without it such interests "
        "score every item alike and never earn mixture weight",
    )
    hub_correction: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="extractor='route': each long-term interest is its events' centroid less "
        "this share of the centroid of all training events, so the popular items every "
        "centroid is near (hubs) do not lead every user's interests (0: off)",
    )
    dynamic_interests: bool = Field(
        False,
        description="extractor='route': MIND's dynamic K: a history of n events has "
        "max(1, min(n_interests, floor(log2 n))) long-term interests (2-3 events: 1, 4-7: 2, "
        "8-15: 3, ...), the others carry no weight and are not shown, so a light user's few "
        "events are not split into near-copies",
    )
    long_term_fixed_items: bool = Field(
        False,
        description="extractor='route' with short_term: the long-term interests, the mixture "
        "and their losses read the item vectors and the transformer's states without moving "
        "them, so the item space and the transformer learn the short-term row's task (the "
        "one-interest model's) alone and the interests are learned on top of it",
    )
    future_window: int = Field(
        5,
        ge=0,
        description="prism: besides the next item, each training position is also taught the "
        "items of the next future_window events (the future set that several interests "
        "cover together; 0: the next item only)",
    )
    future_weight: float = Field(
        1.0,
        ge=0.0,
        description="prism with future_window > 0: weight of the mean loss of the later items "
        "next to the next item's",
    )
    history_len: int = Field(
        500,
        ge=1,
        description="extractor='route' with short_term: events the long-term interests pool "
        "over at inference (the transformer reads the last max_seq_len of them), so older "
        "history still counts",
    )
    separation_weight: float = Field(
        1.0,
        ge=0.0,
        description="extractor='route': weight of a penalty on the mean pairwise cosine of a "
        "user's interest vectors",
    )
    readout: Literal["hard", "soft", "mixture"] = Field(
        "mixture",
        description="training readout: the mixture of per-interest softmaxes weighted by the "
        "interest weights (also used to score), the closest interest (hard, ComiRec) or "
        "label-aware attention (soft, MIND)",
    )
    merge: Literal["mixture", "max", "quota"] | None = Field(
        None,
        description="prism, K > 1: how the interests' scores become one list: 'mixture' (each "
        "item's probability under the weighted mixture of the interests), 'max' (each item "
        "scored by its best interest's inner product, ComiRec's merge by score) or 'quota' "
        "(each interest drafts its share of the slots); None: 'quota' with interest_quota, "
        "else 'mixture' for readout='mixture' and 'max' otherwise",
    )
    use_content: bool = Field(True, description="prism: item vectors from content + ID")
    use_context: bool = Field(True, description="prism: embed the events' context columns")
    use_event_types: bool = Field(True, description="prism: embed the behaviour type of events")
    use_user_features: bool = Field(True, description="prism: add static user attributes")
    interest_quota: bool = Field(
        False,
        description="prism, K > 1: serve each list merged from the interests' best items, "
        "every interest getting slots in proportion to its weight (as multi-interest "
        "retrievers serve) and filling them by its own score (its posterior plus the "
        "co-occurrence prior of the history it attends to); scoring only, no effect on training",
    )
    quota_short_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="interest_quota with a short-term interest: its share of a list's slots; "
        "the long-term interests share the rest by their relative weights",
    )
    quota_depth: int | None = Field(
        None,
        ge=1,
        description="interest_quota: each interest picks among the overall best "
        "quota_depth * k items (None: among every item)",
    )
    quota_temperature: float = Field(
        1.0,
        gt=0.0,
        description="interest_quota: > 1 flattens the weights the slots follow (w ** (1/T))",
    )
    fresh_share: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="exploration: share of a list's slots kept for fresh items (no training "
        "event: new or cold), the best of them by final score among the overall best "
        "fresh_depth * k; 0 turns it off",
    )
    fresh_depth: int = Field(
        10,
        ge=1,
        description="fresh_share: a fresh item takes a slot only when it ranks among the "
        "user's best fresh_depth * k items (it must match the user's interests)",
    )
    quota_prior_weight: float | None = Field(
        4.0,
        ge=0.0,
        description="interest_quota: weight of each interest's own co-occurrence prior in the "
        "score its slots are picked by (None: cooc_weight)",
    )
    interest_diversity: float = Field(
        0.0,
        ge=0.0,
        description="prism, K > 1: weight of a penalty on how alike the interests' category "
        "distributions are",
    )
    use_repeat: bool = Field(
        True,
        description="prism: learn a logit bias on items already in the history, by how long ago "
        "they occurred (repeat vs explore; trained by the 'ce' loss)",
    )
    id_dropout: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="item tower: share of ID embeddings hidden in training, so content must "
        "carry items alone (0.5 for catalogues where new items matter)",
    )
    cooc_weight: float | None = Field(
        None,
        ge=0.0,
        description="prism: weight of the item co-occurrence prior added to the neural scores; "
        "None tunes it on the validation split after training, 0 turns it off",
    )
    modality_dropout: float = Field(
        0.1, ge=0.0, lt=1.0, description="item tower: share of whole modalities hidden in training"
    )
    neighbours: int = Field(100, ge=1, description="itemknn: neighbours kept per item")
    window: int = Field(10, ge=1, description="itemknn and prior: co-occurrence window")
    recency_decay: float = Field(
        0.8, gt=0.0, le=1.0, description="itemknn: weight decay per step of distance in a window"
    )
    shrink: float = Field(10.0, ge=0.0, description="itemknn: similarity shrinkage")
    backward_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="itemknn: weight of j-before-i pairs"
    )
