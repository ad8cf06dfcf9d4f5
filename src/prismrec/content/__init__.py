"""Item content: pretrained text encoder, embedding cache, modality inputs, content neighbours.

Nothing here imports torch or sentence-transformers at import time.
"""

from prismrec.content._items import (
    TextVectors,
    attach_vector_files,
    config_for,
    encode_item_texts,
    read_manifest,
    vector_matrix,
)
from prismrec.content.cache import EmbeddingCache, Encoder, EncodeStats, text_key
from prismrec.content.config import DEFAULT_MODEL, ContentConfig, load_content_config
from prismrec.content.features import (
    EncodeReport,
    FeatureSpec,
    ItemFeatures,
    build_item_features,
    content_dir,
    encode_dataset,
    fit_feature_spec,
    load_item_features,
)
from prismrec.content.similar import Neighbour, content_vectors, nearest, similar_items
from prismrec.content.text import (
    ResolvedModel,
    TextEncoder,
    TextTemplate,
    default_template,
    resolve_model,
)

__all__ = [
    "DEFAULT_MODEL",
    "ContentConfig",
    "EmbeddingCache",
    "EncodeReport",
    "EncodeStats",
    "Encoder",
    "FeatureSpec",
    "ItemFeatures",
    "Neighbour",
    "ResolvedModel",
    "TextEncoder",
    "TextTemplate",
    "TextVectors",
    "attach_vector_files",
    "build_item_features",
    "config_for",
    "content_dir",
    "content_vectors",
    "default_template",
    "encode_dataset",
    "encode_item_texts",
    "fit_feature_spec",
    "load_content_config",
    "load_item_features",
    "nearest",
    "read_manifest",
    "resolve_model",
    "similar_items",
    "text_key",
    "vector_matrix",
]
