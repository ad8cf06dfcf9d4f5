"""Run the peer library RecBole 1.2.1 on ml-100k and record its numbers.

Runs inside its own virtualenv (``benchmarks/recbole/.venv``, made by ``setup_venv.sh``),
never in prismrec's. Protocol: RecBole's own leave-one-out split (``LS: valid_and_test``,
ordered by time, grouped by user), full ranking over all items, ``MAX_ITEM_LIST_LENGTH`` 50,
NDCG/Recall/MRR/Hit at 10 and 20, model selection and early stopping on valid NDCG@10.

Masking: RecBole masks the user's history for general models (BPR, Pop) but not for
sequential ones (SASRec, GRU4Rec, BERT4Rec), whose full-sort loader passes no history
index. For the sequential models this script additionally scores the test users with
RecBole's own trainer/evaluator path after adding a history mask (every earlier item of
the user, not only the last 50), so both rules are on record.

Results are merged into ``benchmarks/results/recbole_ml100k.json`` (one entry per model;
entries of models not run this time are kept).

Usage (from the repository root)::

    nice -n 19 benchmarks/recbole/.venv/bin/python benchmarks/recbole/run_recbole.py \
        --models Pop BPR GRU4Rec SASRec BERT4Rec
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results" / "recbole_ml100k.json"
DEFAULT_SHARED = Path(os.environ.get("PRISMREC_SHARED", "/work/shared"))

SEQUENTIAL = {"SASRec", "GRU4Rec", "BERT4Rec"}
GENERAL = {"BPR", "Pop"}
TOPK = [10, 20]
REPORT = ["ndcg@10", "recall@10", "mrr@10", "hit@10", "ndcg@20", "recall@20", "mrr@20", "hit@20"]


def _set_threads() -> None:
    # One thread everywhere, before torch/numpy spin up their pools.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")


_set_threads()

import numpy as np  # noqa: E402
import torch  # noqa: E402

# Compatibility shim: torch >= 2.6 defaults torch.load(weights_only=True), but RecBole 1.2.1's
# checkpoints hold its Config object, so reloading the best model fails. Restore the old default
# for this process only (the checkpoints are our own files).
_torch_load = torch.load


def _torch_load_compat(*args: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("weights_only", False)
    return _torch_load(*args, **kwargs)


torch.load = _torch_load_compat  # type: ignore[assignment]

import recbole  # noqa: E402
from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.utils import get_model, get_trainer, init_logger, init_seed  # noqa: E402


class _OutOfTime(Exception):
    """Raised from the per-epoch callback to stop a run that would overrun its time budget."""


def model_config(
    name: str, args: argparse.Namespace, data_path: str, ckpt_dir: str
) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "data_path": data_path,
        "checkpoint_dir": ckpt_dir,
        "eval_args": {
            "split": {"LS": "valid_and_test"},
            "order": "TO",
            "group_by": "user",
            "mode": "full",
        },
        "MAX_ITEM_LIST_LENGTH": 50,
        "metrics": ["NDCG", "Recall", "MRR", "Hit"],
        "topk": TOPK,
        "valid_metric": "NDCG@10",
        "stopping_step": args.stopping_step,
        "epochs": args.epochs,
        "show_progress": False,
        "seed": args.seed,
        "reproducibility": True,
        "state": "INFO",
        "log_wandb": False,
        "worker": 0,
        "save_dataset": False,
        "save_dataloaders": False,
    }
    if name in SEQUENTIAL:
        cfg.update(
            {
                "train_neg_sample_args": None,
                "loss_type": "CE",
                "train_batch_size": args.seq_batch_size,
            }
        )
    # BPR: RecBole's default train_neg_sample_args (uniform, 1 negative) and batch 2048.
    # Pop: TraditionalTrainer, a single counting pass (epochs are forced to 1 by RecBole).
    return cfg


def _raw_user_items(dataset: Any, inter_file: Path) -> dict[int, list[int]]:
    """uid -> every item of the user, from the raw .inter file, in RecBole's internal ids.

    Read from the file because a sequential dataset's inter_feat is already augmented into
    (prefix -> next item) rows, which leaves out each user's first item.
    """
    uf, itf = dataset.uid_field, dataset.iid_field
    out: dict[int, list[int]] = {}
    with inter_file.open() as fh:
        cols = [c.split(":")[0] for c in next(fh).rstrip("\n").split("\t")]
        ui, ii = cols.index(uf), cols.index(itf)
        for line in fh:
            row = line.rstrip("\n").split("\t")
            u = int(dataset.token2id(uf, row[ui]))
            out.setdefault(u, []).append(int(dataset.token2id(itf, row[ii])))
    return out


def _history_mask(
    user_items: dict[int, list[int]], exclude: dict[int, set[int]]
) -> dict[int, np.ndarray]:
    """uid -> np.array of every item of the user minus the held-out items in exclude[uid]."""
    return {
        u: np.array(sorted(set(items) - exclude.get(u, set())), dtype=np.int64)
        for u, items in user_items.items()
    }


def _eval_with_mask(
    trainer: Any, data: Any, hist: dict[int, np.ndarray], uid_field: str
) -> dict[str, float]:
    """RecBole's own evaluate() with a history mask added to each scored batch."""
    orig = trainer._full_sort_batch_eval

    def masked(batched_data: Any) -> Any:
        interaction, scores, pos_u, pos_i = orig(batched_data)
        users = interaction[uid_field].cpu().numpy()
        rows, cols = [], []
        for r, u in enumerate(users):
            h = hist.get(int(u))
            if h is not None and len(h):
                rows.append(np.full(len(h), r, dtype=np.int64))
                cols.append(h)
        if rows:
            scores[
                torch.from_numpy(np.concatenate(rows)), torch.from_numpy(np.concatenate(cols))
            ] = -np.inf
        # The target must stay rankable: a masked positive would mean a repeat, not a history item.
        assert torch.isfinite(scores[pos_u, pos_i]).all(), "history mask hit a positive item"
        return interaction, scores, pos_u, pos_i

    trainer._full_sort_batch_eval = masked
    try:
        res = trainer.evaluate(data, load_best_model=False, show_progress=False)
    finally:
        trainer._full_sort_batch_eval = orig
    return {k: float(v) for k, v in res.items()}


def _split_items(data: Any, uid_field: str, iid_field: str) -> dict[int, int]:
    ds = data._dataset
    uids = ds.inter_feat[uid_field].numpy()
    iids = ds.inter_feat[iid_field].numpy()
    out: dict[int, int] = {}
    for u, i in zip(uids, iids):
        assert int(u) not in out, "more than one held-out item for a user"
        out[int(u)] = int(i)
    return out


def check_split(
    dataset: Any, valid: dict[int, int], test: dict[int, int], split_file: Path
) -> dict[str, Any]:
    """Compare RecBole's held-out items (mapped back to raw tokens) with recbole_loo_split.tsv."""
    if not split_file.exists():
        return {"checked": False, "reason": f"{split_file} not found"}
    uf, itf = dataset.uid_field, dataset.iid_field
    ref: dict[str, tuple[str, str]] = {}
    with split_file.open() as fh:
        next(fh)
        for line in fh:
            u, v, t = line.rstrip("\n").split("\t")
            ref[u] = (v, t)
    got: dict[str, tuple[str, str]] = {}
    for u in test:
        tok = str(dataset.id2token(uf, u))
        got[tok] = (str(dataset.id2token(itf, valid[u])), str(dataset.id2token(itf, test[u])))
    mism = [u for u in ref if got.get(u) != ref[u]]
    return {
        "checked": True,
        "file": str(split_file),
        "users_in_file": len(ref),
        "users_in_recbole": len(got),
        "mismatched_users": len(mism) + len(set(got) - set(ref)),
        "equal": not mism and set(got) == set(ref),
    }


def run_model(name: str, args: argparse.Namespace, data_path: str, workdir: Path) -> dict[str, Any]:
    ckpt_dir = str(workdir / "saved")
    cfg = Config(
        model=name, dataset="ml-100k", config_dict=model_config(name, args, data_path, ckpt_dir)
    )
    init_seed(cfg["seed"], cfg["reproducibility"])
    init_logger(cfg)
    torch.set_num_threads(1)

    t0 = time.perf_counter()
    dataset = create_dataset(cfg)
    train_data, valid_data, test_data = data_preparation(cfg, dataset)
    prep_s = time.perf_counter() - t0

    init_seed(cfg["seed"] + cfg["local_rank"], cfg["reproducibility"])
    model = get_model(cfg["model"])(cfg, train_data._dataset).to(cfg["device"])
    trainer = get_trainer(cfg["MODEL_TYPE"], cfg["model"])(cfg, model)
    uid_field, iid_field = dataset.uid_field, dataset.iid_field

    # Held-out items per user (internal ids) and the split sanity check.
    valid_items = _split_items(valid_data, uid_field, iid_field)
    test_items = _split_items(test_data, uid_field, iid_field)
    split_check = check_split(dataset, valid_items, test_items, Path(args.split_file))

    is_seq = name in SEQUENTIAL
    # Masks for the "history masked" view of the sequential models: every earlier item of the
    # user. Valid: everything but the valid and test items; test: everything but the test item.
    hist_valid = hist_test = None
    n_inter = len(dataset.inter_feat)  # general models: the raw interactions
    if is_seq:
        user_items = _raw_user_items(dataset, Path(args.inter_file))
        n_pairs = sum(len(v) for v in user_items.values())
        n_unique = sum(len(set(v)) for v in user_items.values())
        n_inter = (
            n_pairs  # sequential models: inter_feat holds augmented prefixes, count the raw file
        )
        assert n_pairs == n_unique, (
            "repeat consumption present: 'history minus target' is ambiguous"
        )
        assert all(
            test_items[u] in user_items[u] and valid_items[u] in user_items[u] for u in test_items
        )
        hist_valid = _history_mask(
            user_items, {u: {valid_items[u], test_items[u]} for u in test_items}
        )
        hist_test = _history_mask(user_items, {u: {test_items[u]} for u in test_items})

    # Per-epoch timing: wrap the trainer's own epoch functions.
    epochs: list[dict[str, Any]] = []
    state = {"fit_start": None, "best_masked": -1.0, "best_masked_epoch": None}
    masked_ckpt = workdir / f"{name}-best-masked.pt"
    orig_train, orig_valid = trainer._train_epoch, trainer._valid_epoch

    def timed_train(
        train_data: Any, epoch_idx: int, loss_func: Any = None, show_progress: bool = False
    ) -> Any:
        t, c = time.perf_counter(), time.process_time()
        loss = orig_train(train_data, epoch_idx, loss_func=loss_func, show_progress=show_progress)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        total = sum(loss) if isinstance(loss, tuple) else loss
        # cpu_s: this process's CPU time. On a shared machine the wall time (train_s) also holds
        # the time this niced job waited for a core; cpu_s is close to the wall time on an idle core.
        epochs.append(
            {
                "epoch": epoch_idx,
                "train_s": dt,
                "train_cpu_s": dc,
                "loss": float(total),
                "loadavg_1m": os.getloadavg()[0],
            }
        )
        return loss

    def timed_valid(valid_data: Any, show_progress: bool = False) -> Any:
        t = time.perf_counter()
        score, result = orig_valid(valid_data, show_progress=show_progress)
        rec = epochs[-1]
        rec["valid_s"] = time.perf_counter() - t
        rec["valid_ndcg@10"] = float(score)
        rec["valid"] = {k: float(v) for k, v in result.items()}
        if is_seq:
            # Extra, outside RecBole's timing of record: masked valid score, and keep the
            # checkpoint with the best masked valid NDCG@10 for a like-for-like selection.
            tm = time.perf_counter()
            m = _eval_with_mask(trainer, valid_data, hist_valid, uid_field)
            rec["valid_masked_ndcg@10"] = m["ndcg@10"]
            if m["ndcg@10"] > state["best_masked"]:
                state["best_masked"], state["best_masked_epoch"] = m["ndcg@10"], rec["epoch"]
                torch.save(trainer.model.state_dict(), masked_ckpt)
            rec["masked_eval_s"] = time.perf_counter() - tm
        # Wall time since fit start, not counting the extra masked evaluation above.
        rec["wall_s"] = (
            time.perf_counter()
            - state["fit_start"]
            - sum(e.get("masked_eval_s", 0.0) for e in epochs)
        )
        return score, result

    trainer._train_epoch, trainer._valid_epoch = timed_train, timed_valid

    deadline = args.deadline

    def callback(epoch_idx: int, valid_score: float) -> None:
        if deadline is None:
            return
        last = epochs[-1]
        need = last["train_s"] + last.get("valid_s", 0.0) + last.get("masked_eval_s", 0.0)
        if time.time() + 1.1 * need > deadline:
            raise _OutOfTime()

    capped = False
    state["fit_start"] = time.perf_counter()
    try:
        trainer.fit(train_data, valid_data, saved=True, show_progress=False, callback_fn=callback)
    except _OutOfTime:
        capped = True
    fit_s = (
        time.perf_counter() - state["fit_start"] - sum(e.get("masked_eval_s", 0.0) for e in epochs)
    )

    test_res = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    test_res = {k: float(v) for k, v in test_res.items()}

    best = (
        max(epochs, key=lambda e: (e.get("valid_ndcg@10", -1.0), -e["epoch"])) if epochs else None
    )
    n_ep = len(epochs)
    train_s = [e["train_s"] for e in epochs]
    out: dict[str, Any] = {
        "model": name,
        "model_type": "sequential" if is_seq else "general",
        "history_masked": not is_seq,
        "masking_note": (
            "RecBole full-sort for sequential models ranks all items, history included "
            "(FullSortEvalDataLoader.collate_fn returns history_index=None)"
            if is_seq
            else "RecBole masks the user's train (and, at test, valid) items before ranking"
        ),
        "test": {k: test_res.get(k) for k in REPORT},
        "valid_best_ndcg@10": float(trainer.best_valid_score) if n_ep else None,
        "train_seconds_total": fit_s,
        "train_seconds_total_note": "wall time of trainer.fit: every epoch's training plus its validation",
        "seconds_per_epoch": float(np.mean(train_s)) if train_s else None,
        "seconds_per_epoch_with_valid": fit_s / n_ep if n_ep else None,
        "cpu_seconds_per_epoch": float(np.mean([e["train_cpu_s"] for e in epochs]))
        if n_ep
        else None,
        "cpu_seconds_per_epoch_note": "process CPU time of one training epoch (1 thread): the wall time it would take on an idle core",
        "cpu_seconds_to_best": sum(
            e["train_cpu_s"] + e.get("valid_s", 0.0)
            for e in epochs
            if best and e["epoch"] <= best["epoch"]
        ),
        "mean_loadavg_1m": float(np.mean([e["loadavg_1m"] for e in epochs])) if n_ep else None,
        "valid_seconds_per_epoch": float(np.mean([e.get("valid_s", 0.0) for e in epochs]))
        if n_ep
        else None,
        "epochs_run": n_ep,
        "best_epoch": best["epoch"] if best else None,
        "time_to_best_s": best.get("wall_s") if best else None,
        "time_to_best_note": "wall time from fit start to the end of the best epoch's validation",
        "train_seconds_to_best": sum(
            e["train_s"] for e in epochs if best and e["epoch"] <= best["epoch"]
        ),
        "capped_by_time_budget": capped,
        "converged": (not capped) and n_ep < cfg["epochs"] if name != "Pop" else True,
        "train_batch_size": cfg["train_batch_size"],
        "eval_batch_size": cfg["eval_batch_size"],
        "epochs_max": cfg["epochs"],
        "stopping_step": cfg["stopping_step"],
        "learning_rate": cfg["learning_rate"],
        "train_neg_sample_args": cfg["train_neg_sample_args"],
        "loss_type": cfg["loss_type"] if is_seq else None,
        "MAX_ITEM_LIST_LENGTH": cfg["MAX_ITEM_LIST_LENGTH"],
        "seed": cfg["seed"],
        "data_prepare_seconds": prep_s,
        "n_users": int(dataset.user_num - 1),
        "n_items": int(dataset.item_num - 1),
        "n_interactions": n_inter,
        "split_check": split_check,
        "epoch_log": epochs,
    }
    if is_seq:
        # Same (RecBole-selected) checkpoint, history masked.
        masked_same = _eval_with_mask(trainer, test_data, hist_test, uid_field)
        out["test_history_masked"] = {k: masked_same.get(k) for k in REPORT}
        out["test_history_masked_note"] = (
            "RecBole's trainer.evaluate on the checkpoint RecBole selected (best unmasked valid "
            "NDCG@10), with every earlier item of the user (train + valid, not just the last 50) "
            "set to -inf before ranking; metrics by RecBole's own evaluator"
        )
        if state["best_masked_epoch"] is not None:
            trainer.model.load_state_dict(torch.load(masked_ckpt, map_location=cfg["device"]))
            masked_sel = _eval_with_mask(trainer, test_data, hist_test, uid_field)
            out["test_history_masked_masked_selection"] = {k: masked_sel.get(k) for k in REPORT}
            out["masked_selection_best_epoch"] = state["best_masked_epoch"]
            out["masked_selection_valid_ndcg@10"] = state["best_masked"]
            bm = next(e for e in epochs if e["epoch"] == state["best_masked_epoch"])
            out["masked_selection_time_to_best_s"] = bm["wall_s"]
    return out


def versions() -> dict[str, str]:
    import pandas
    import scipy

    return {
        "recbole": recbole.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pandas.__version__,
        "python": platform.python_version(),
    }


def merge_write(path: Path, results: dict[str, dict[str, Any]], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Several runs (e.g. one per model, in parallel) may merge into the same file: lock it.
    with open(Path(tempfile.gettempdir()) / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _merge_write_locked(path, results, meta)


def _merge_write_locked(
    path: Path, results: dict[str, dict[str, Any]], meta: dict[str, Any]
) -> None:
    doc: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    doc.setdefault("models", {})
    doc["protocol"] = meta["protocol"]
    for name, res in results.items():
        res["run"] = meta["run"]
        doc["models"][name] = res
    order = ["Pop", "BPR", "GRU4Rec", "SASRec", "BERT4Rec"]
    doc["models"] = {
        k: doc["models"][k]
        for k in sorted(doc["models"], key=lambda m: (order.index(m) if m in order else 99, m))
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    tmp.replace(path)


def print_table(path: Path, markdown: bool = False) -> None:
    doc = json.loads(path.read_text())
    cols = [
        "model",
        "history masked",
        "NDCG@10",
        "Recall@10",
        "MRR@10",
        "NDCG@20",
        "Recall@20",
        "train s",
        "s/epoch",
        "CPU s/epoch",
        "epochs",
        "best epoch",
        "time to best s",
        "capped",
    ]
    rows = []
    for name, r in doc["models"].items():
        views = [("yes" if r["history_masked"] else "no", r["test"])]
        if "test_history_masked" in r:
            views.append(("yes (ours)", r["test_history_masked"]))
        for masked, t in views:
            rows.append(
                [
                    name,
                    masked,
                    f"{t['ndcg@10']:.4f}",
                    f"{t['recall@10']:.4f}",
                    f"{t['mrr@10']:.4f}",
                    f"{t['ndcg@20']:.4f}",
                    f"{t['recall@20']:.4f}",
                    f"{r['train_seconds_total']:.0f}",
                    f"{r['seconds_per_epoch'] or 0:.1f}",
                    f"{r.get('cpu_seconds_per_epoch') or 0:.1f}",
                    str(r["epochs_run"]),
                    str(r["best_epoch"]),
                    f"{r['time_to_best_s'] or 0:.0f}",
                    "yes" if r.get("capped_by_time_budget") else "no",
                ]
            )
    if markdown:
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = (
            [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
            if rows
            else [len(c) for c in cols]
        )
        print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
        for row in rows:
            print("  ".join(v.rjust(w) for v, w in zip(row, widths)))
    print(
        "history masked 'yes (ours)': RecBole's trained sequential model and evaluator, every earlier "
        "item of the user masked by run_recbole.py (same checkpoint). Epochs are 0-based."
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["Pop", "BPR", "GRU4Rec", "SASRec", "BERT4Rec"])
    p.add_argument(
        "--epochs", type=int, default=300, help="upper bound; early stopping ends the run"
    )
    p.add_argument("--stopping-step", type=int, default=10)
    p.add_argument("--seq-batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--shared", default=str(DEFAULT_SHARED), help="the project's shared/ folder")
    p.add_argument("--split-file", default=None)
    p.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="unix time: stop training (keeping the best checkpoint) before an epoch would end past it",
    )
    p.add_argument(
        "--budget-min", type=float, default=None, help="like --deadline, in minutes from now"
    )
    p.add_argument("--workdir", default=None, help="scratch dir for RecBole's logs and checkpoints")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument(
        "--print-only", action="store_true", help="print the table from the JSON and exit"
    )
    p.add_argument("--markdown", action="store_true", help="with --print-only: a markdown table")
    args = p.parse_args()
    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    sys.argv = sys.argv[:1]  # RecBole's Config also parses --key=value from sys.argv: give it none

    out = Path(args.out)
    if args.print_only:
        print_table(out, markdown=args.markdown)
        return
    if args.budget_min is not None and args.deadline is None:
        args.deadline = time.time() + 60 * args.budget_min
    shared_data = Path(args.shared) / "data" / "ml-100k-recbole"
    args.split_file = args.split_file or str(shared_data / "recbole_loo_split.tsv")
    args.inter_file = str(shared_data / "ml-100k.inter")
    if not (shared_data / "ml-100k.inter").exists():
        sys.exit(f"missing {shared_data}/ml-100k.inter")

    # RecBole reads <data_path>/<dataset>/<dataset>.inter and applies its ml-100k.yaml only when the
    # dataset is called ml-100k; a symlink ml-100k -> shared/data/ml-100k-recbole gives both.
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="prismrec-recbole-"))
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    link = workdir / "data" / "ml-100k"
    if not link.exists():
        link.symlink_to(shared_data.resolve(), target_is_directory=True)
    os.chdir(workdir)  # RecBole writes log/ and log_tensorboard/ relative to the cwd

    meta = {
        "protocol": {
            "dataset": "ml-100k (RecBole atomic files, identical to recbole/dataset_example/ml-100k)",
            "data_path": str(shared_data),
            "eval_args": {
                "split": {"LS": "valid_and_test"},
                "order": "TO",
                "group_by": "user",
                "mode": "full",
            },
            "MAX_ITEM_LIST_LENGTH": 50,
            "metrics": ["NDCG", "Recall", "MRR", "Hit"],
            "topk": TOPK,
            "valid_metric": "NDCG@10",
            "threads": 1,
        },
        "run": {
            "command": command,
            "versions": versions(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "cpus": os.cpu_count(),
            "torch_threads": 1,
            "machine": platform.machine(),
        },
    }
    for name in args.models:
        print(f"=== {name}", flush=True)
        res = run_model(name, args, str(workdir / "data"), workdir)
        merge_write(out, {name: res}, meta)  # write after each model so a later crash keeps it
        t = res["test"]
        print(
            f"{name}: test NDCG@10 {t['ndcg@10']:.4f} Recall@10 {t['recall@10']:.4f} "
            f"epochs {res['epochs_run']} best {res['best_epoch']} fit {res['train_seconds_total']:.0f}s",
            flush=True,
        )
        if "test_history_masked" in res:
            print(
                f"{name} (history masked): NDCG@10 {res['test_history_masked']['ndcg@10']:.4f}",
                flush=True,
            )
    print_table(out)


if __name__ == "__main__":
    main()
