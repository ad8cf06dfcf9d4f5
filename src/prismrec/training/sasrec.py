"""SASRec: the prism recommender as an ID-only, single-interest sequential model."""

from __future__ import annotations

from prismrec.config import ModelConfig
from prismrec.training.base import register
from prismrec.training.prism import PrismRecommender

__all__ = ["SASRec"]


@register
class SASRec(PrismRecommender):
    """SASRec trained with full cross-entropy: ID-only, one interest, no content or context."""

    name = "sasrec"

    def _effective(self) -> ModelConfig:
        return self.model_config.model_copy(
            update={
                "n_interests": 1,
                "use_content": False,
                "use_context": False,
                "use_event_types": False,
                "use_user_features": False,
                "use_repeat": False,
                "cooc_weight": 0.0,
                "future_window": 0,
            }
        )
