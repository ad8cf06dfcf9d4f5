"""The README and the generated reference pages: short, runnable, complete."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reference", ROOT / "scripts" / "reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def test_readme_is_an_overview_with_the_two_commands_and_the_snippet() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 300
    assert "make demo" in text and "make test" in text
    blocks = python_blocks(text)
    assert blocks and 'pr.evaluate(model, ds, split="test")' in blocks[0]
    for target in re.findall(r"\]\(([^)#]+)\)", text):  # every relative link resolves
        if "://" not in target:
            assert (ROOT / target).exists(), target


def test_the_config_reference_lists_every_key_with_its_description() -> None:
    from prismrec.config import SECTIONS

    page = reference().render_config()
    parts = re.split(r"^## `\[(\w+)\]`$", page, flags=re.MULTILINE)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    assert list(sections) == list(SECTIONS)
    for name, model in SECTIONS.items():
        rows = [" ".join(r.split()) for r in sections[name].splitlines()]
        for key, field in model.model_fields.items():
            row = next((r for r in rows if r.startswith(f"| `{key}` |")), None)
            assert row is not None, f"[{name}] {key} missing"
            described = " ".join((field.description or "").split()).replace("|", "\\|")
            assert described and row.endswith(f"| {described} |"), f"[{name}] {key}: {row}"


def test_the_cli_reference_lists_every_command_and_visible_option() -> None:
    import typer

    from prismrec.cli.main import app

    page = reference().render_cli()
    for path, cmd in reference().commands(typer.main.get_command(app), "prismrec"):
        assert f"## `{path}`" in page
        for p in cmd.params:
            if p.param_type_name == "option" and not p.hidden:
                assert any(o in page for o in p.opts), (path, p.opts)
    assert "--model-type" in page and "--split-kind" in page


def test_the_http_reference_lists_every_route() -> None:
    mod = reference()
    spec = mod.openapi()
    page = mod.render_http()
    for path, methods in spec["paths"].items():
        for method in methods:
            assert f"## `{method.upper()} {path}`" in page
    assert "### `EventIn`" in page and "event_type" in page


@pytest.mark.slow
@pytest.mark.timeout(1800)  # encodes 9,742 movie texts and trains prism 5 epochs: 5-10 minutes
def test_the_readme_python_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The quick start on the bundled data (trains prism for 5 epochs: minutes)."""
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for block in python_blocks(README.read_text()):
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    import prismrec as pr

    ds, model = namespace["ds"], namespace["model"]
    assert isinstance(ds, pr.Dataset) and isinstance(model, pr.Model)
    assert (tmp_path / "runs" / "mls" / "schema.json").is_file() and ds.n_items == 9742
    top = model.recommend_for(user_id="1", k=10)
    assert len(top) == 10 and len({r["item_id"] for r in top}) == 10
    fresh = model.recommend_for(history=["1", "3114"], k=10)
    assert len(fresh) == 10 and not {"1", "3114"} & {r["item_id"] for r in fresh}
    metrics = pr.evaluate(model, ds, split="test")
    assert metrics["protocol"]["split"] == "test" and metrics["n_users"] == 610
    assert metrics["ndcg@10"] > 0.02  # above most-popular (0.018) after 5 epochs
