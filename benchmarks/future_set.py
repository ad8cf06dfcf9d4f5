"""The multi-interest future-set protocol (ComiRec, REMI): K=4 against K=1, SASRec and baselines.

Each data set is split by *users* (train / valid / test users; a held-out user's first 80% of
events is the input, the distinct items of the rest the target set) and, in one run, ``pop``,
``itemknn``, ``sasrec``, ``prism`` with one interest (``K=1``, everything else the default) and
``prism`` as it ships (``K=4``) are trained on the train users and measured on the test users:

- Recall, HitRate and NDCG at 20 and 50, with the history filtered (prismrec's default) and not
  filtered (ComiRec and REMI do not filter), ``diversity@N`` when the items have categories, and
  each model's seconds to train;
- for the K=4 model the merge rules side by side on the same trained weights (``merge``:
  ``mixture``, ``max`` = ComiRec's merge by score, ``quota``), and the interest-use measures
  whichever of them ``evaluate`` reports;
- paired 95% bootstrap intervals over the test users of K=4 minus K=1 and K=4 minus SASRec
  (Recall@50, NDCG@50), and the ratio K=4 / K=1 of Recall@50 with its interval;
- the Python API check: for up to 500 test users, ``model.recommend_for(history=<their input
  item ids>, k=50)`` (how a never-seen user is served) against the list ``evaluate`` ranks:
  the share identical and the Recall@50 of the API lists.

Data sets: ``retailrocket`` (SimRec's ComiRec-style split, kept as given),
``amazon-video-sasrec`` (5-core sequences, users 80/10/10), ``taobao`` (the UserBehavior head
with ``configs/taobao.toml``, users 80/10/10), ``ml-100k`` and ``ml-latest-small`` (users
80/10/10). Training: the default ``TrainConfig`` with ``--epochs`` as the most epochs (early
stopping on the valid users). prism on retailrocket and amazon takes hours on 2 cores.

Run: cd benchmarks && ../.venv/bin/python future_set.py --only ml-100k [--epochs 20]
     [--models pop itemknn sasrec prism-k1 prism-k4] [--out NAME] [--train-share 0.25]
Writes benchmarks/results/future_set.json (with --only D: future_set-D.json; --out NAME: NAME.json).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import DATA, write_result
from rich.console import Console
from rich.table import Table

import prismrec as pr
from prismrec.api.evaluation import with_merge
from prismrec.api.models import Model
from prismrec.config import ModelConfig, TrainConfig
from prismrec.evaluation.future_set import add_diversity, protocol_ks, protocol_record
from prismrec.evaluation.interest_use import USE_METRICS
from prismrec.evaluation.interests import is_interest_metric
from prismrec.evaluation.metrics import accuracy_metrics, hit_matrix
from prismrec.evaluation.protocol import FullResult, evaluate_full
from prismrec.evaluation.run import eval_catalog
from prismrec.evaluation.significance import paired_compare
from prismrec.training import registry

SETS = ("retailrocket", "amazon-video-sasrec", "taobao", "ml-100k", "ml-latest-small")
MODELS = ("pop", "itemknn", "sasrec", "prism-k1", "prism-k4")
LABELS = {"prism-k1": "prism K=1", "prism-k4": "prism K=4"}
MERGES = ("mixture", "max", "quota")
ACC = ("recall@20", "recall@50", "hr@20", "hr@50", "ndcg@20", "ndcg@50")
PAIRED = ("recall@50", "ndcg@50")
API_USERS = 500
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
USERS = {"split": "users", "valid_user_share": 0.1, "test_user_share": 0.1}
console = Console(width=200)


def prepare_set(name: str, out: Path, train_share: float = 1.0) -> pr.Dataset:
    """One data set, split by users (retailrocket: the split it ships with; ``train_share`` < 1
    keeps that share of its training users, drawn with seed 0, and every held-out user)."""
    if name == "retailrocket":
        cfg = CONFIGS / "retailrocket-comirec.toml"
        src = DATA / "retailrocket-comirec"
        if train_share < 1.0:
            src = _fewer_train_users(src, out.with_name(out.name + "-raw"), train_share)
        return pr.prepare(src, out, format="comirec", config=cfg)
    if name == "amazon-video-sasrec":
        return pr.prepare(
            DATA / "amazon-video-sasrec" / "Video.txt", out, format="pairtxt", **USERS
        )
    if name == "taobao":
        # ComiRec's data with its shipped config (5-core); the head's last line is cut off
        path = DATA / "taobao-userbehavior-head" / "UserBehavior.csv"
        cfg = CONFIGS / "taobao.toml"
        return pr.prepare(path, out, format="taobao", config=cfg, skip_bad_rows=True, **USERS)
    if name == "ml-100k":
        return pr.prepare(DATA / "ml-100k", out, **USERS)
    return pr.prepare("bundled:ml-latest-small", out, **USERS)


def _fewer_train_users(src: Path, out: Path, share: float) -> Path:
    """A copy of a comirec directory whose ``train.txt`` keeps ``share`` of its lines."""
    out.mkdir(parents=True, exist_ok=True)
    lines = (src / "train.txt").read_text().splitlines()
    keep = np.random.default_rng(0).random(len(lines)) < share
    (out / "train.txt").write_text("".join(f"{x}\n" for x, k in zip(lines, keep, strict=True) if k))
    for f in ("valid.txt", "test.txt", "item_map.txt"):
        (out / f).write_bytes((src / f).read_bytes())
    return out


def train(ds: pr.Dataset, key: str, epochs: int) -> tuple[Model, float, int]:
    """(model, seconds to train, epochs run) of one of :data:`MODELS` on the train users."""
    name = "prism" if key.startswith("prism") else key
    model_cfg = ModelConfig(n_interests=1) if key == "prism-k1" else ModelConfig()
    t0 = time.perf_counter()
    rec = registry()[name](model_cfg, TrainConfig(epochs=epochs)).fit(ds.prepared, upto="valid")
    seconds = time.perf_counter() - t0
    return Model(rec, ds.ids), seconds, len(getattr(rec, "history", None) or [])


def measure(
    rec: Any,
    ds: pr.Dataset,
    cases: Any,
    catalog: Any,
    filtered: bool,
    category_lambda: float | None = None,
) -> FullResult:
    """The future-set metrics of the test users, as ``prismrec evaluate`` computes them
    (``category_lambda``: as ``evaluate --category-lambda``)."""
    schema = ds.prepared.schema
    res = evaluate_full(
        rec,
        cases,
        protocol_ks(schema),
        filter_seen=filtered,
        split="test",
        catalog=catalog,
        category_lambda=category_lambda,
        # the interest measures read the own lists with the history masked either way
        **({} if filtered else {"interest_k": None}),
    )
    res.protocol.update(protocol_record(schema))
    add_diversity(res)
    return res


def use_keys(metrics: dict[str, Any]) -> list[str]:
    """The interest distinctness and use measures among ``metrics`` (evaluate's own names)."""
    return sorted(k for k in metrics if is_interest_metric(k) or k.split("@")[0] in USE_METRICS)


def row_of(res: FullResult, base: dict[str, Any], merge: str | None, filtered: bool) -> dict:
    keys = [*ACC, *(k for k in res.metrics if k.startswith("diversity@")), *use_keys(res.metrics)]
    return {
        **base,
        "merge": merge,
        "history": "filtered" if filtered else "kept",
        **{k: res.metrics[k] for k in keys if k in res.metrics},
    }


def merge_rule(model: Model) -> str | None:
    rule = getattr(model.recommender, "merge_rule", None)
    return rule if isinstance(rule, str) else None


def api_check(model: Model, ds: pr.Dataset, cases: Any, top: np.ndarray) -> dict[str, Any]:
    """``recommend_for(history=...)`` against evaluate's filtered top-50, for up to 500 users.

    Also the share identical when the held-out user's id goes along (their stored attributes
    are then read, as evaluate reads them): what differs without it is the user's attributes,
    what differs with it is the events' own features (type, time), which item ids lack.
    """
    n = min(API_USERS, len(cases))
    pick = np.sort(np.random.default_rng(0).choice(len(cases), n, replace=False))
    items, users = ds.prepared.item_vocab, ds.prepared.user_vocab
    lists = np.full((n, 50), -1, dtype=np.int64)
    same = same_user = 0
    t0 = time.perf_counter()
    for j, i in enumerate(pick):
        history = items.external(cases.histories[i])
        ref = top[i][top[i] >= 0]
        got = model.recommend_for(history=history, k=50)
        rows = ds.ids.item_rows([r["item_id"] for r in got], "the API list")
        lists[j, : len(rows)] = rows
        same += bool(np.array_equal(rows, ref))
        user = users.external(cases.users[i : i + 1])[0]
        got = model.recommend_for(user_id=user, history=history, k=50)
        rows = ds.ids.item_rows([r["item_id"] for r in got], "the API list")
        same_user += bool(np.array_equal(rows, ref))
    targets = [cases.targets[i] for i in pick]
    n_t = np.array([len(t) for t in targets])
    recall = accuracy_metrics(hit_matrix(lists, targets), n_t, (50,), ("recall",))["recall@50"]
    ref50 = accuracy_metrics(hit_matrix(top[pick], targets), n_t, (50,), ("recall",))["recall@50"]
    nan = float("nan")
    return {
        "users": int(n),
        "identical_share": same / n if n else nan,
        "identical_share_with_user_id": same_user / n if n else nan,
        "api_recall@50": float(recall.mean()) if n else nan,
        "evaluate_recall@50": float(ref50.mean()) if n else nan,
        "seconds": time.perf_counter() - t0,
    }


def ratio_interval(a: np.ndarray, b: np.ndarray, n_boot: int = 2000) -> dict[str, float]:
    """mean(b) / mean(a) with a paired 95% bootstrap interval over users."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b = a[ok], b[ok]
    if not len(a) or a.mean() == 0:
        return {"ratio": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
    idx = np.random.default_rng(0).integers(0, len(a), (n_boot, len(a)))
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = b[idx].mean(axis=1) / a[idx].mean(axis=1)
    lo, hi = np.nanquantile(boot, [0.025, 0.975])
    return {"ratio": float(b.mean() / a.mean()), "ci_low": float(lo), "ci_high": float(hi)}


def compare(per_user: dict[tuple[str, str | None, str], dict[str, np.ndarray]]) -> list[dict]:
    """K=4 (each merge rule) minus K=1 and minus SASRec, paired over users, both history modes."""
    out = []
    for (label, merge, history), arrays in per_user.items():
        if label != LABELS["prism-k4"]:
            continue
        for ref in (LABELS["prism-k1"], "sasrec"):
            base = per_user.get((ref, None, history))
            if base is None:
                continue
            row: dict[str, Any] = {"merge": merge, "history": history, "vs": ref}
            for m in PAIRED:
                row[m] = paired_compare(base[m], arrays[m], m).to_dict()
            if ref == LABELS["prism-k1"]:
                row["recall@50_ratio"] = ratio_interval(base["recall@50"], arrays["recall@50"])
            out.append(row)
    return out


def evaluate_model(
    model: Model, key: str, ds: pr.Dataset, cases: Any, catalog: Any, base: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[tuple[str, str | None, str], Any], np.ndarray]:
    """Rows of one trained model (K=4: each merge rule), both history modes; its per-user
    Recall@50 and NDCG@50; the filtered top-50 of the model as it ships."""
    rows, per_user, top = [], {}, None
    default = merge_rule(model)
    merges: list[str | None] = list(MERGES) if key == "prism-k4" else [None]
    for merge in merges:
        rec = with_merge(model.recommender, merge)  # a copy: the model stays as it ships
        for filtered in (True, False):
            res = measure(rec, ds, cases, catalog, filtered)
            row = row_of(res, base, merge, filtered)
            row["default_merge"] = merge is None or merge == default
            rows.append(row)
            per_user[(base["model"], merge, row["history"])] = {m: res.per_user[m] for m in PAIRED}
            if filtered and (merge == default or top is None):
                top = res.topk
        console.log(f"{ds.root.name}: {base['model']} {merge or ''} evaluated")
    assert top is not None
    return rows, per_user, top


def run_set(
    name: str, tmp: Path, models: list[str], epochs: int, train_share: float = 1.0
) -> dict[str, Any]:
    t0 = time.perf_counter()
    ds = prepare_set(name, tmp / name, train_share)
    cases = ds.prepared.eval_cases("test")
    catalog = eval_catalog(ds.prepared, "test")
    info = {
        "users": ds.n_users,
        "items": ds.n_items,
        "test_users": len(cases),
        "protocol": protocol_record(ds.prepared.schema),
        "prepare_seconds": time.perf_counter() - t0,
        "train_share": train_share,
    }
    console.log(
        f"[bold]{name}[/]: {ds.n_users:,} users, {ds.n_items:,} items, {len(cases):,} test users"
    )
    rows: list[dict[str, Any]] = []
    per_user: dict[tuple[str, str | None, str], dict[str, np.ndarray]] = {}
    api: dict[str, Any] = {}
    for key in models:
        label = LABELS.get(key, key)
        console.log(f"{name}: training {label} (at most {epochs} epochs) ...")
        model, seconds, n_epochs = train(ds, key, epochs)
        console.log(f"{name}: {label} trained in {seconds:.0f} s ({n_epochs} epochs)")
        base = {"model": label, "train_seconds": seconds, "epochs": n_epochs}
        got, arrays, top = evaluate_model(model, key, ds, cases, catalog, base)
        rows += got
        per_user.update(arrays)
        api[label] = api_check(model, ds, cases, top)
        console.log(f"{name}: {label} API check in {api[label]['seconds']:.0f} s")
        del model
    return {"dataset": name, "info": info, "rows": rows, "paired": compare(per_user), "api": api}


def _fmt(v: Any) -> str:
    return "-" if v is None or v != v else f"{v:.4f}"


def print_set(res: dict[str, Any], epochs: int) -> None:
    info = res["info"]
    title = (
        f"{res['dataset']}: future-set protocol, {info['test_users']:,} test users, "
        f"{info['items']:,} items, at most {epochs} epochs"
    )
    div = sorted({k for r in res["rows"] for k in r if k.startswith("diversity@")})
    t = Table(title=title)
    for c in ("model", "merge", "history", *ACC, *div, "epochs", "train s"):
        t.add_column(c, justify="right")
    for r in res["rows"]:
        merge = (r["merge"] or "") + (" *" if r["merge"] and r["default_merge"] else "")
        t.add_row(
            r["model"],
            merge,
            r["history"],
            *(_fmt(r.get(k)) for k in (*ACC, *div)),
            str(r["epochs"]),
            f"{r['train_seconds']:.0f}",
        )
    t.caption = "merge *: the model's default rule; history kept: as ComiRec and REMI measure"
    console.print(t)
    _print_use(res)
    _print_paired(res)
    _print_api(res)


def _print_api(res: dict[str, Any]) -> None:
    t = Table(
        title=f"{res['dataset']}: Python API, recommend_for(history=<input item ids>, k=50) "
        "against evaluate's list"
    )
    cols = ("model", "users", "identical", "identical with user_id", "API recall@50")
    for c in (*cols, "evaluate recall@50"):
        t.add_column(c, justify="right")
    for label, a in res["api"].items():
        t.add_row(
            label,
            str(a["users"]),
            f"{a['identical_share']:.1%}",
            f"{a['identical_share_with_user_id']:.1%}",
            _fmt(a["api_recall@50"]),
            _fmt(a["evaluate_recall@50"]),
        )
    console.print(t)


def _print_use(res: dict[str, Any]) -> None:
    """One row per measure, one column per model (and merge rule) that reports it."""
    rows = [r for r in res["rows"] if r["history"] == "filtered" and use_keys(r)]
    if not rows:
        return
    keys = sorted({k for r in rows for k in use_keys(r)})
    t = Table(title=f"{res['dataset']}: interest distinctness and use (history filtered)")
    t.add_column("measure")
    for r in rows:
        t.add_column(f"{r['model']} {r['merge'] or ''}".strip(), justify="right")
    for k in keys:
        t.add_row(k, *(_fmt(r.get(k)) for r in rows))
    console.print(t)


def _print_paired(res: dict[str, Any]) -> None:
    if not res["paired"]:
        return
    t = Table(title=f"{res['dataset']}: K=4 minus the reference, paired over test users (95%)")
    for c in ("merge", "history", "vs", "metric", "ref", "K=4", "diff", "interval", "p"):
        t.add_column(c, justify="right")
    for p in res["paired"]:
        for m in PAIRED:
            c = p[m]
            t.add_row(
                p["merge"],
                p["history"],
                p["vs"],
                m,
                _fmt(c["mean_a"]),
                _fmt(c["mean_b"]),
                f"{c['diff']:+.4f}",
                f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]",
                f"{c['p_permutation']:.3f}",
            )
        if "recall@50_ratio" in p:
            q = p["recall@50_ratio"]
            interval = f"[{q['ci_low']:.3f}, {q['ci_high']:.3f}]"
            t.add_row(
                p["merge"],
                p["history"],
                p["vs"],
                "recall@50 ratio",
                "",
                "",
                f"{q['ratio']:.3f}x",
                interval,
                "",
            )
    console.print(t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="+", choices=SETS, help="data sets (default: all)")
    ap.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    ap.add_argument("--epochs", type=int, default=20, help="most epochs (early stopping)")
    ap.add_argument("--out", help="results file name (default: future_set[-ONLY])")
    ap.add_argument(
        "--train-share",
        type=float,
        default=1.0,
        help="retailrocket: train on this share of its training users (seed 0; the held-out "
        "users stay all), for a run that fits an hour",
    )
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    sets = args.only or list(SETS)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in sets:
            results.append(run_set(name, Path(tmp), args.models, args.epochs, args.train_share))
            print_set(results[-1], args.epochs)
    if not args.no_write:
        name = args.out or ("future_set" if not args.only else "future_set-" + "-".join(sets))
        payload = {
            "epochs": args.epochs,
            "models": args.models,
            "train_share": args.train_share,
            "sets": results,
        }
        console.print(f"wrote {write_result(name, payload)}")


if __name__ == "__main__":
    main()
