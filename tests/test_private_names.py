"""Nothing outside a module uses its private names (the smell of two copies kept equal).

A name with a leading underscore belongs to the module (or class) that defines it. Checked
over ``src/prismrec`` and ``tests``:

- ``from prismrec.x import _name`` only for a private *module* of the importer's own package
  (``tests/<pkg>/`` counts as package ``prismrec.<pkg>``);
- ``thing._name`` only on ``self``, ``cls``, ``super()``, an ``obj`` that a classmethod of the
  same class builds, or a third-party module imported by the file (``torch.ops._x``).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "prismrec"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _package_of(path: Path) -> str:
    """``prismrec.<pkg>`` of a source or test file (tests/<pkg>/x.py mirrors prismrec/<pkg>)."""
    if path.is_relative_to(SRC):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        return ".".join(parts[:-1])
    parts = path.relative_to(ROOT / "tests").parts
    return "prismrec." + parts[0] if len(parts) > 1 else "prismrec"


def _is_module(dotted: str) -> bool:
    rel = Path(*dotted.split("."))
    return (SRC.parent / rel).with_suffix(".py").is_file() or (SRC.parent / rel).is_dir()


def _violations(path: Path) -> list[str]:
    return _check(path.read_text(), _package_of(path), str(path.relative_to(ROOT)))


def _check(source: str, pkg: str, label: str) -> list[str]:
    tree = ast.parse(source)
    third_party = {
        (a.asname or a.name).split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import)
        for a in n.names
        if not a.name.startswith("prismrec")
    }
    built_in_classmethod: set[int] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef) and any(
            isinstance(d, ast.Name) and d.id == "classmethod" for d in fn.decorator_list
        ):
            built_in_classmethod.update(id(n) for n in ast.walk(fn))
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("prismrec"):
            for a in n.names:
                if not _private(a.name):
                    continue
                dotted = f"{n.module}.{a.name}"
                if not (_is_module(dotted) and n.module == pkg):
                    out.append(f"{label}:{n.lineno} imports {dotted}")
        elif isinstance(n, ast.Attribute) and _private(n.attr):
            v = n.value
            if isinstance(v, ast.Name) and v.id in {"self", "cls", *third_party}:
                continue
            if isinstance(v, ast.Name) and v.id == "obj" and id(n) in built_in_classmethod:
                continue
            if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "super":
                continue
            root = v
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in third_party and root is not v:
                continue
            out.append(f"{label}:{n.lineno} uses {ast.unparse(n)}")
    return out


def test_no_module_uses_another_modules_private_names() -> None:
    files = sorted(SRC.rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))
    found = [v for f in files for v in _violations(f)]
    assert not found, "\n".join(found)


def test_the_check_finds_a_private_import_and_a_private_attribute() -> None:
    source = (
        "from prismrec.training.base import _topk\ndef f(model):\n    return model._effective()\n"
    )
    found = _check(source, "prismrec.retrieval", "probe.py")
    assert len(found) == 2 and "_topk" in found[0] and "_effective" in found[1]
    # a private module of the importer's own package is fine
    assert _check("from prismrec.data import _formats\n", "prismrec.data", "probe.py") == []
