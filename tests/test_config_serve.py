"""One config: every section in one file, the [serve] precedence rule, 'prismrec config show'."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from tests.conftest import TINY_CSV
from typer.testing import CliRunner

from prismrec.cli.main import app
from prismrec.config import (
    SECTIONS,
    PrismConfig,
    ServeSettings,
    load_config,
    load_content_config,
    serve_settings,
)
from prismrec.errors import ConfigError

runner = CliRunner()


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for key in list(os.environ):
        if key.startswith("PRISMREC_") and key != "PRISMREC_DATA_DIR":
            monkeypatch.delenv(key)
    return monkeypatch


def test_every_section_loads_from_one_file_and_the_layers_share_its_types(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        "[data]\nmax_seq_len = 20\n[content]\nbatch_size = 8\n[model]\nn_interests = 2\n"
        "[train]\nepochs = 3\n[serve]\nmax_k = 50\nstore = 'sqlite:x.db'\n"
    )
    c = load_config(cfg)
    assert (c.data.max_seq_len, c.content.batch_size, c.model.n_interests) == (20, 8, 2)
    assert (c.train.epochs, c.serve.max_k, c.serve.store) == (3, 50, "sqlite:x.db")
    assert set(SECTIONS) == {"data", "content", "model", "train", "serve", "tune"}
    assert load_content_config(cfg).batch_size == 8
    from prismrec.content import ContentConfig as B
    from prismrec.serving.settings import ServeSettings as S

    assert B is type(c.content) and S is ServeSettings


def test_every_key_has_a_description() -> None:
    undocumented = [
        f"[{name}] {key}"
        for name, model in SECTIONS.items()
        for key, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert not undocumented, undocumented
    assert len(PrismConfig.model_fields) == len(SECTIONS)


def test_serve_precedence_flags_over_env_over_file_over_defaults(
    tmp_path: Path, no_env: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[serve]\nmax_k = 50\nrate_per_s = 5.0\nstore = 'sqlite:file.db'\n")
    assert serve_settings(None).max_k == 200  # defaults
    s = serve_settings(cfg)
    assert (s.max_k, s.rate_per_s, s.store) == (50, 5.0, "sqlite:file.db")  # file
    no_env.setenv("PRISMREC_MAX_K", "70")
    no_env.setenv("PRISMREC_STORE", "sqlite:env.db")
    s = serve_settings(cfg)
    assert (s.max_k, s.rate_per_s, s.store) == (70, 5.0, "sqlite:env.db")  # env over file
    s = serve_settings(cfg, max_k=90, store=None)  # None: the flag was not given
    assert (s.max_k, s.store) == (90, "sqlite:env.db")  # flag over env
    no_env.setenv("PRISMREC_MAX_K", "many")
    with pytest.raises(ConfigError, match="PRISMREC_MAX_K: Input should be a valid integer"):
        serve_settings(cfg)
    no_env.delenv("PRISMREC_MAX_K")
    with pytest.raises(ConfigError, match="the serve options: max_k"):
        serve_settings(cfg, max_k=0)


def test_index_quantize_is_checked_against_the_index_wherever_each_is_set(
    tmp_path: Path, no_env: pytest.MonkeyPatch
) -> None:
    assert serve_settings(None).index_quantize == "none"
    with pytest.raises(ConfigError, match="index_quantize: Input should be 'none', 'fp16', 'sq8'"):
        serve_settings(None, index_quantize="int4")
    with pytest.raises(ConfigError, match="index_quantize: needs an approximate index"):
        serve_settings(None, index="exact", index_quantize="sq8")
    with pytest.raises(ConfigError, match="'pq' needs index 'ivf'"):
        serve_settings(None, index_quantize="pq")  # auto means HNSW above exact_below
    cfg = tmp_path / "c.toml"
    cfg.write_text("[serve]\nindex = 'ivf'\n")
    no_env.setenv("PRISMREC_INDEX_QUANTIZE", "pq")  # the file's index and the env's quantize
    s = serve_settings(cfg)
    assert (s.index, s.index_quantize) == ("ivf", "pq")
    assert serve_settings(cfg, index="hnsw", index_quantize="sq8").index_quantize == "sq8"


def test_serve_command_leaves_the_environment_alone_when_a_flag_is_not_given(
    tmp_path: Path, no_env: pytest.MonkeyPatch
) -> None:
    (tmp_path / "events.csv").write_text(TINY_CSV)
    data, model = tmp_path / "d", tmp_path / "m"
    assert runner.invoke(app, ["data", "prepare", str(tmp_path / "events.csv"), "-o", str(data)])
    r = runner.invoke(app, ["train", "-d", str(data), "-t", "pop", "-o", str(model)])
    assert r.exit_code == 0, r.output
    # a store URL only the environment names: the command must use it (and refuse it)
    no_env.setenv("PRISMREC_STORE", "ftp://nowhere")
    r = runner.invoke(app, ["serve", "-m", str(model)])
    assert r.exit_code == 1 and "ftp://nowhere" in r.output, r.output
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[serve]\nmodel_dir = '{model}'\nstore = 'gopher://file'\n")
    no_env.delenv("PRISMREC_STORE")
    r = runner.invoke(app, ["serve", "-c", str(cfg)])  # model_dir and store from the file
    assert r.exit_code == 1 and "gopher://file" in r.output, r.output
    r = runner.invoke(app, ["serve", "-c", str(cfg), "--store", "ldap://flag"])
    assert r.exit_code == 1 and "ldap://flag" in r.output, r.output
    r = runner.invoke(app, ["serve"])
    assert r.exit_code == 1 and "no model directory" in r.output


def test_config_show_prints_a_valid_config_from_file_model_and_environment(
    tmp_path: Path, no_env: pytest.MonkeyPatch
) -> None:
    (tmp_path / "events.csv").write_text(TINY_CSV)
    data, model = tmp_path / "d", tmp_path / "m"
    runner.invoke(app, ["data", "prepare", str(tmp_path / "events.csv"), "-o", str(data)])
    cfg = tmp_path / "c.toml"
    cfg.write_text("[model]\nneighbours = 7\n[train]\nepochs = 4\n[serve]\nmax_k = 40\n")
    r = runner.invoke(
        app, ["train", "-d", str(data), "-t", "itemknn", "-c", str(cfg), "-o", str(model)]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["config", "show"])
    assert r.exit_code == 0, r.output
    shown = tomllib.loads(r.stdout)
    PrismConfig(**shown)  # what it prints is a valid config file
    as_json = json.loads(runner.invoke(app, ["config", "show", "--json"]).stdout)
    # the same values; unset keys (None) are comments in TOML
    assert shown == {s: {k: v for k, v in kv.items() if v is not None} for s, kv in as_json.items()}
    assert shown["model"]["neighbours"] == 100 and shown["serve"]["max_k"] == 200
    no_env.setenv("PRISMREC_MAX_K", "33")
    r = runner.invoke(app, ["config", "show", "-m", str(model), "--json"])
    shown = json.loads(r.stdout)
    assert shown["model"]["neighbours"] == 7 and shown["train"]["epochs"] == 4  # the model's
    assert shown["serve"]["max_k"] == 33 and shown["serve"]["model_dir"] == str(model)
    r = runner.invoke(app, ["config", "show", "-c", str(cfg), "--section", "serve"])
    assert tomllib.loads(r.stdout) == {"serve": tomllib.loads(r.stdout)["serve"]}
    assert tomllib.loads(r.stdout)["serve"]["max_k"] == 33  # environment over file
