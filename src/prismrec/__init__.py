"""prismrec: a multi-interest, content-aware, real-time recommender system.

```python
import prismrec as pr

ds = pr.prepare("bundled:ml-latest-small", "runs/mls")
model = pr.train(ds, "prism", epochs=5)
model.recommend_for(user_id="1", k=10)
pr.evaluate(model, ds, split="test")
```

The names below are loaded on first use (``import prismrec`` stays cheap); see
:mod:`prismrec.api`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "Dataset",
    "Model",
    "PrismConfig",
    "RetrainPlan",
    "__version__",
    "evaluate",
    "export_store",
    "load",
    "load_config",
    "prepare",
    "retrain",
    "train",
    "tune",
]

if TYPE_CHECKING:
    from prismrec.api import Dataset, Model, evaluate, load, prepare, train, tune
    from prismrec.api.loop import RetrainPlan, retrain
    from prismrec.api.retrain import export_store
    from prismrec.config import PrismConfig, load_config

_LAZY = {
    "Dataset": "prismrec.api",
    "Model": "prismrec.api",
    "evaluate": "prismrec.api",
    "export_store": "prismrec.api.retrain",
    "load": "prismrec.api",
    "prepare": "prismrec.api",
    "retrain": "prismrec.api.loop",
    "tune": "prismrec.api",
    "RetrainPlan": "prismrec.api.loop",
    "train": "prismrec.api",
    "PrismConfig": "prismrec.config",
    "load_config": "prismrec.config",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'prismrec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
