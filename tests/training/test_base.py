"""The recommender base: what every validation epoch logs into the model's history."""

from __future__ import annotations

import json
from pathlib import Path

INTEREST_KEYS = {
    "valid_interest_cosine",
    "valid_interest_jaccard@20",
    "valid_interest_effective_k",
    "valid_interest_label_distinct",
}
USE_KEYS = {
    "valid_short_weight",
    "valid_short_dominant",
    "valid_effective_interests",
    "valid_worst_jaccard@20",
    "valid_long_head_share@20",
}


def _history(model_dir: Path) -> list[dict[str, float]]:
    return json.loads((model_dir / "model.json").read_text())["history"]


def test_validation_logs_interest_distinctness_for_several_interests(
    interest_models: dict[str, Path],
) -> None:
    history = _history(interest_models["prism"])
    assert len(history) == 2
    for row in history:
        assert set(row) >= INTEREST_KEYS and "valid_ndcg@10" in row
        assert -1.0 <= row["valid_interest_cosine"] <= 1.0
        assert 0.0 <= row["valid_interest_jaccard@20"] <= 1.0
        assert 1.0 <= row["valid_interest_effective_k"] <= 3.0 + 1e-9
        assert 0.0 <= row["valid_interest_label_distinct"] <= 1.0
        assert set(row) >= USE_KEYS  # K = 3 and a short-term row
        assert 0.0 <= row["valid_short_weight"] <= 1.0
        assert 1.0 <= row["valid_effective_interests"] <= 4.0 + 1e-9
        assert row["valid_interest_jaccard@20"] <= row["valid_worst_jaccard@20"] <= 1.0


def test_single_interest_models_log_no_interest_keys(interest_models: dict[str, Path]) -> None:
    (row,) = _history(interest_models["sasrec"])
    assert "valid_ndcg@10" in row and not (INTEREST_KEYS | USE_KEYS) & set(row)
