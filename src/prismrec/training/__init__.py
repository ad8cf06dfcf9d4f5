"""Training: the recommender API, baselines, trainer loop."""

from prismrec.training.base import Recommender, load_model, register, registry
from prismrec.training.baselines import ItemKNN, MostPopular

__all__ = ["ItemKNN", "MostPopular", "Recommender", "load_model", "register", "registry"]
