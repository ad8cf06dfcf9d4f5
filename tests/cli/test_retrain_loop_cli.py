"""``prismrec retrain``: export, warm-start, compare on held-back events, promote; clean errors."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

import prismrec as pr
from prismrec.data.dataset import PreparedDataset
from prismrec.serving.state.store import Event, SQLiteStore
from prismrec.training.manifest import current_model, data_digest, read_manifest

T0 = 1_900_000_000


def run_main(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    from prismrec.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return int(exit_info.value.code or 0), out.out, out.err


def live_store(data: Path, path: Path) -> str:
    """A real SQLite store with a new user, a new item and new events of trained users."""
    items = PreparedDataset.load(data).item_vocab.ids.tolist()
    users = PreparedDataset.load(data).user_vocab.ids.tolist()
    # the new item inside histories too: the current model must be measured in its own rows
    events = [Event("newbie", i, "view", T0 + n) for n, i in enumerate(items[:6])]
    events += [Event("newbie", "brand-new", "view", T0 + 3)]
    for n, u in enumerate(users[:30]):
        if n % 3 == 0:
            events += [Event(u, "brand-new", "view", T0 + 50)]
        events += [Event(u, items[(n * 7 + j) % len(items)], "view", T0 + 100 + j) for j in (0, 1)]
    store = SQLiteStore(path)
    store.append(events)
    store.close()
    return f"sqlite:{path}"


def log_lines(models: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in (models / "retrain.log.jsonl").read_text().splitlines()]


def test_retrain_promotes_then_keeps_current_when_the_rule_fails(
    interest_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, parent = interest_models["data"], interest_models["prism"]
    store, models = live_store(data, tmp_path / "state.db"), tmp_path / "models"
    base = ("retrain", "--store", store, "--data", data, "--models", models, "--epochs", 1)
    code, out, err = run_main(capsys, *base, "--bootstrap", parent)
    assert code == 0, err
    first = log_lines(models)
    assert len(first) == 1
    rec = first[0]
    a = read_manifest(parent)
    assert a is not None and rec["parent"] == a.version and rec["promoted"] is True
    cand = models / str(rec["candidate"])
    assert current_model(models) == cand.resolve() and os.readlink(models / "current") == cand.name
    assert (models / a.version / "model.json").is_file()  # the bootstrap model, copied in
    b = read_manifest(cand)
    assert b is not None and b.version == rec["candidate"] and b.parent == a.version
    assert "promoted" in out and str(rec["candidate"]) in out
    assert not (cand / "checkpoint").exists()
    assert pr.load(models / "current").recommender.version == b.version  # what serve reads
    # the decision compares both models on the export's held-back (test) cases
    exports = list((models / "exports").iterdir())
    assert len(exports) == 1 and b.data_digest == data_digest(exports[0])
    live = PreparedDataset.load(exports[0])
    assert "brand-new" in live.item_vocab and "newbie" in live.user_vocab
    assert rec["cases"] == len(live.eval_cases("test"))
    want = pr.evaluate(cand, exports[0], split="test")["ndcg@10"]
    cur, new = rec["current"], rec["candidate_metrics"]
    assert isinstance(cur, dict) and isinstance(new, dict)
    assert new["ndcg@10"] == pytest.approx(want, abs=1e-6)
    assert new["ndcg@10"] >= cur["ndcg@10"] and cur["ndcg@10"] > 0
    assert rec["reason"] == (
        f"candidate ndcg@10 {new['ndcg@10']:.4f} >= current {cur['ndcg@10']:.4f}"
    )

    # an unreachable threshold: the candidate is removed, current stays, exit code 3
    code, out, err = run_main(capsys, *base, "--promote-if", "ndcg@10>=1.5")
    assert code == 3, err
    second = log_lines(models)[1]
    assert second["promoted"] is False and second["parent"] == b.version
    assert str(second["reason"]).endswith("< threshold 1.5000")
    assert current_model(models) == cand.resolve()
    assert not (models / str(second["candidate"])).exists()
    assert sorted(p.name for p in models.iterdir() if p.is_dir() and not p.is_symlink()) == sorted(
        [a.version, b.version, "exports"]
    )
    assert len(list((models / "exports").iterdir())) == 1  # the rejected run's export went
    assert "not promoted" in out


def test_every_stops_cleanly_on_sigterm_between_runs(
    interest_models: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, models = live_store(interest_models["data"], tmp_path / "s.db"), tmp_path / "m"
    waits: list[float] = []

    def interrupted(seconds: float) -> None:  # as `docker stop` or Kubernetes would
        waits.append(seconds)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(time, "sleep", interrupted)
    code, out, err = run_main(
        capsys, "retrain", "--store", store, "--data", interest_models["data"],
        "--models", models, "--bootstrap", interest_models["sasrec"], "--epochs", "1",
        "--every", "1h", "--promote-if", "recall@20>=0",
    )  # fmt: skip
    assert code == 0 and "stopped" in err, err
    assert len(log_lines(models)) == 1 and len(waits) == 1 and 3000 < waits[0] <= 3600
    assert not [p for p in models.iterdir() if p.name.startswith(".")]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is put back


def test_a_failing_run_in_the_loop_is_recorded_and_the_loop_goes_on(
    interest_models: dict[str, Path], tmp_path: Path
) -> None:
    from prismrec.api.loop import RetrainPlan, parse_rule, retrain_runs

    db = tmp_path / "s.db"
    store = live_store(interest_models["data"], db)
    plan = RetrainPlan(
        store,
        interest_models["data"],
        tmp_path / "m",
        parse_rule("ndcg@10>=2"),
        holdout="temporal:0.1",
        epochs=1,
        bootstrap=interest_models["prism"],
    )
    runs = retrain_runs(plan, every=0.01, max_runs=2)
    first = next(runs)
    assert first.candidate and not first.promoted and first.cases > 0
    assert first.holdout == "temporal:0.1"
    db.unlink()  # the store is gone: the next run fails, is recorded, and the loop goes on
    second = next(runs)
    assert second.candidate is None and "does not exist" in second.reason
    assert [r["promoted"] for r in log_lines(tmp_path / "m")] == [False, False]
    with pytest.raises(StopIteration):
        next(runs)


def test_export_holds_back_the_newest_share_of_time(
    interest_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = live_store(interest_models["data"], tmp_path / "s.db")
    code, _, err = run_main(
        capsys, "data", "export", "--store", store, "--data", interest_models["data"],
        "--out", tmp_path / "live", "--holdout", "temporal:0.2",
    )  # fmt: skip
    assert code == 0, err
    live = PreparedDataset.load(tmp_path / "live")
    assert live.schema["split"]["kind"] == "temporal" and live.config.test_cut == 0.8
    ts = live.frame.get_column("timestamp")
    test = live.frame.filter(live.frame["split"] == 2)
    assert test.height and test["timestamp"].min() >= live.schema["split"]["test_cut"]
    assert test.height == (ts >= live.schema["split"]["test_cut"]).sum()
    assert 0.15 < test.height / live.frame.height < 0.25


@pytest.mark.parametrize(
    ("extra", "message", "code"),
    [
        (("--promote-if", "ndcg@10=>current"), "bad promote rule", 1),
        (("--promote-if", "auc@10>=current"), "METRIC is one of", 1),
        (("--promote-if", "ndcg@0>=0.1"), "bad promote rule", 1),
        (("--every", "5x"), "bad interval", 1),
        (("--every", "0m"), "bad interval", 1),
        (("--holdout", "temporal:0.7"), "bad holdout", 1),
        (("--epochs", "0"), "--epochs", 2),
        ((), "no 'current' model", 1),
        (("--store", "sqlite:{tmp}/missing.db"), "does not exist", 1),
        (("--store", "postgres://db/x"), "unsupported store URL", 1),
        (("--bootstrap", "{pop}"), "prism and sasrec", 1),
        (("--bootstrap", "{tmp}/nope"), "not a model directory", 1),
        (("--data", "{tmp}/nope"), "not a prepared dataset", 1),
    ],
)
def test_bad_flags_are_one_line_errors(
    extra: tuple[str, ...],
    message: str,
    code: int,
    interest_models: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "s.db"
    empty = SQLiteStore(db)
    empty.ping()  # creates the file
    empty.close()
    fill = {"tmp": tmp_path, "pop": interest_models["pop"]}
    args = [
        "retrain", "--store", f"sqlite:{db}", "--data", interest_models["data"],
        "--models", tmp_path / "m", *[str(x).format(**fill) for x in extra],
    ]  # fmt: skip
    got, out, err = run_main(capsys, *args)
    assert got == code and message in err, err
    assert "Traceback" not in err and "unexpected" not in err
    if code == 1:
        assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "m" / "current").exists()


def test_a_current_that_is_not_a_link_is_refused(
    interest_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, models = live_store(interest_models["data"], tmp_path / "s.db"), tmp_path / "m"
    (models / "current").mkdir(parents=True)
    code, _, err = run_main(
        capsys, "retrain", "--store", store, "--data", interest_models["data"],
        "--models", models, "--bootstrap", interest_models["prism"],
    )  # fmt: skip
    assert code == 1 and "is not a symlink" in err and len(err.strip().splitlines()) == 1
    assert (models / "current").is_dir() and not (models / "current").is_symlink()


def test_promote_rules_parse_and_decide() -> None:
    from prismrec.api.loop import PromoteRule, parse_interval, parse_rule
    from prismrec.errors import ConfigError

    assert parse_rule("ndcg@10>=current") == PromoteRule("ndcg", 10, ">=", None)
    assert parse_rule(" recall@20 > 0.05 ") == PromoteRule("recall", 20, ">", 0.05)
    assert str(parse_rule("mrr@5>=.1")) == "mrr@5>=0.1"
    cur, cand = {"ndcg@10": 0.2}, {"ndcg@10": 0.2}
    assert parse_rule("ndcg@10>=current").decide(cur, cand)[0] is True  # no worse: promoted
    assert parse_rule("ndcg@10>current").decide(cur, cand) == (
        False,
        "candidate ndcg@10 0.2000 <= current 0.2000",
    )
    assert parse_rule("ndcg@10>=0.3").decide({"ndcg@10": 0.9}, cand)[0] is False
    assert parse_interval("90s") == 90 and parse_interval("1.5h") == 5400
    for bad in ("ndcg>=current", "ndcg@10>=", "ndcg@10<=current", "NDCG@10>=current", ""):
        with pytest.raises(ConfigError, match="bad promote rule"):
            parse_rule(bad)
