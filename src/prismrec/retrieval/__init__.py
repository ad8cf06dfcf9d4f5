"""Retrieval: item indexes (exact oracle, FAISS), multi-interest merge, re-ranking, explanations.

Imports training, evaluation, models, content and data; never serving or cli.
"""

from prismrec.retrieval._faiss import FaissIndex
from prismrec.retrieval.context import ContextBudget, UserContext
from prismrec.retrieval.explain import (
    interest_labels,
    label_from_items,
    label_interests,
    top_events,
)
from prismrec.retrieval.index import (
    ExactIndex,
    IndexSettings,
    ItemIndex,
    index_item_table,
    load_index,
    make_index,
)
from prismrec.retrieval.multi import (
    Candidates,
    gather,
    steer_weights,
)
from prismrec.retrieval.pipeline import ItemMetadata, Request, Retriever
from prismrec.retrieval.rerank import dpp, filter_candidates, mmr, rerank

__all__ = [
    "Candidates",
    "ExactIndex",
    "FaissIndex",
    "IndexSettings",
    "ItemIndex",
    "ItemMetadata",
    "Request",
    "Retriever",
    "ContextBudget",
    "UserContext",
    "dpp",
    "filter_candidates",
    "gather",
    "index_item_table",
    "interest_labels",
    "label_from_items",
    "label_interests",
    "load_index",
    "make_index",
    "mmr",
    "rerank",
    "steer_weights",
    "top_events",
]
