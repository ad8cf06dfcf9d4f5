"""prismrec: a multi-interest, content-aware, real-time recommender system."""

__version__ = "0.1.0"
__all__ = ["__version__"]
