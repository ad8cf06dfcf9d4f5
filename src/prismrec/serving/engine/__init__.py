"""The recommender behind the routes: model, item index, live catalogue, caches, display."""

from prismrec.serving.engine._display import ItemDisplay, attach_fields, item_records
from prismrec.serving.engine._encoder import InterestEncoder, quantize_int8
from prismrec.serving.engine._history import Featurizer, concat
from prismrec.serving.engine._index import item_index
from prismrec.serving.engine.browse import REPORT_SUBDIR, Browse
from prismrec.serving.engine.catalog import ItemEncoder, LiveCatalog, check_item_fields, load_items
from prismrec.serving.engine.cold_lists import ColdLists
from prismrec.serving.engine.coldstart import PopularityPrior, profile_vocab
from prismrec.serving.engine.items import LiveItems
from prismrec.serving.engine.service import Service
from prismrec.serving.engine.users import UserCache, UserState
from prismrec.serving.engine.versions import ModelInfo, model_info

__all__ = [
    "ColdLists",
    "LiveItems",
    "UserCache",
    "Browse",
    "Featurizer",
    "concat",
    "check_item_fields",
    "load_items",
    "InterestEncoder",
    "ItemDisplay",
    "ItemEncoder",
    "LiveCatalog",
    "ModelInfo",
    "PopularityPrior",
    "REPORT_SUBDIR",
    "Service",
    "UserState",
    "attach_fields",
    "item_index",
    "item_records",
    "model_info",
    "profile_vocab",
    "quantize_int8",
]
