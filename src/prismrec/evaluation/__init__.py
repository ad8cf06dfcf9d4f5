"""prismrec.evaluation: metrics, protocols, slices, significance tests and reports.

Pure functions over ranked lists and per-user arrays; nothing here imports training, retrieval,
serving or the CLI (a recommender is anything with ``recommend``).
"""

from prismrec.evaluation.beyond import (
    Catalog,
    beyond_accuracy,
    catalog_coverage,
    catalog_from_dataset,
    category_coverage,
    category_diversity,
    dataset_categories,
    exposure_metrics,
    facet_interests,
    gini,
    interest_coverage,
    intra_list_diversity,
    novelty,
    target_categories,
)
from prismrec.evaluation.interest_export import InterestExport, export_interests
from prismrec.evaluation.interests import (
    INTEREST_METRICS,
    InterestModel,
    interest_distinctness,
    interest_measures,
    interest_snapshot,
    is_interest_metric,
)
from prismrec.evaluation.item_map import build_item_map
from prismrec.evaluation.metrics import (
    ACCURACY_METRICS,
    accuracy_metrics,
    hit_matrix,
    topk_from_scores,
)
from prismrec.evaluation.protocol import (
    EvalResult,
    FullResult,
    evaluate,
    evaluate_full,
    rank_cases,
    rank_sampled,
    ranked_lists,
)
from prismrec.evaluation.report import (
    ItemMap,
    Run,
    load_run,
    metrics_payload,
    protocol_label,
    run_record,
    save_per_user,
    write_report,
)
from prismrec.evaluation.significance import (
    PairedComparison,
    bootstrap_ci,
    bootstrap_cis,
    compare_runs,
    paired_compare,
)
from prismrec.evaluation.slices import dataset_slices, slice_masks, slice_means

__all__ = [
    "ACCURACY_METRICS",
    "INTEREST_METRICS",
    "Catalog",
    "EvalResult",
    "FullResult",
    "InterestExport",
    "InterestModel",
    "ItemMap",
    "PairedComparison",
    "Run",
    "accuracy_metrics",
    "beyond_accuracy",
    "bootstrap_ci",
    "bootstrap_cis",
    "build_item_map",
    "catalog_coverage",
    "catalog_from_dataset",
    "category_coverage",
    "category_diversity",
    "compare_runs",
    "dataset_categories",
    "dataset_slices",
    "evaluate",
    "evaluate_full",
    "export_interests",
    "exposure_metrics",
    "facet_interests",
    "gini",
    "hit_matrix",
    "interest_coverage",
    "interest_distinctness",
    "interest_measures",
    "interest_snapshot",
    "intra_list_diversity",
    "is_interest_metric",
    "load_run",
    "metrics_payload",
    "novelty",
    "paired_compare",
    "protocol_label",
    "rank_cases",
    "rank_sampled",
    "ranked_lists",
    "run_record",
    "save_per_user",
    "slice_masks",
    "slice_means",
    "target_categories",
    "topk_from_scores",
    "write_report",
]
