"""Training: the recommender API, baselines, trainer loop."""

from prismrec.training.base import Recommender, load_model, register, registry
from prismrec.training.baselines import ItemKNN, MostPopular
from prismrec.training.bpr import BPRMF
from prismrec.training.prism import PrismRecommender
from prismrec.training.sasrec import SASRec

__all__ = [
    "BPRMF",
    "ItemKNN",
    "MostPopular",
    "PrismRecommender",
    "SASRec",
    "Recommender",
    "load_model",
    "register",
    "registry",
]
