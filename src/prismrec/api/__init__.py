"""The Python API, in external ids: prepare data, train, load, recommend, evaluate.

```python
import prismrec as pr

ds = pr.prepare("bundled:ml-latest-small", "runs/mls")    # or pr.Dataset.from_frame(df, ...)
model = pr.train(ds, "prism", epochs=5)                   # or pr.load("runs/mls-prism")
model.recommend_for(user_id="1", k=10)                    # [{"item_id": "...", "score": ...}]
model.recommend_for(history=["1", "3114"], k=10)          # a user never seen in training
pr.evaluate(model, ds, split="test")                      # what `prismrec evaluate --json` prints
```

The ``prismrec`` commands call these functions, so the CLI and Python give the same lists and
numbers. Inside, users and items are contiguous rows; ids are translated at this edge only, by
:class:`~prismrec.data.vocab.IdMaps` (which the HTTP service uses too).
"""

from prismrec.api.data import Dataset, prepare
from prismrec.api.evaluation import effective_config, evaluate
from prismrec.api.models import Model, check_model_dir, load, train
from prismrec.api.tuning import TuneResult, tune

__all__ = [
    "Dataset",
    "Model",
    "TuneResult",
    "check_model_dir",
    "effective_config",
    "evaluate",
    "load",
    "prepare",
    "train",
    "tune",
]
