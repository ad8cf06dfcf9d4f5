"""Reference pages generated from the code: config keys, CLI commands, HTTP API.

The docs build calls these (``docs/hooks.py`` replaces ``<!-- generated: NAME -->`` in a page
with ``render(NAME)``), so the reference cannot drift from the code. Run it directly to print a
page: ``python scripts/reference.py config``.
"""

from __future__ import annotations

import sys
import tempfile
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["PAGES", "commands", "render", "render_cli", "render_config", "render_http"]


# ---- config --------------------------------------------------------------------------------------
def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " or ".join(f'`"{a}"`' if isinstance(a, str) else f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(parts) + (" or none" if type(None) in args else "")
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"table of {_type_name(args[0])} to {_type_name(args[1])}" if args else "table"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _bounds(field: Any) -> str:
    signs = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    out = []
    for meta in field.metadata:
        for attr, sign in signs.items():
            value = getattr(meta, attr, None)
            if value is not None:
                out.append(f"{sign} {value}")
    return f" ({', '.join(out)})" if out else ""


def _default(field: Any) -> str:
    from prismrec.config import toml_value

    value = field.default_factory() if field.default_factory is not None else field.default
    if value is None:
        return "not set"
    if value is ... or (field.is_required()):
        return "required"
    return f"`{toml_value(value.__str__() if isinstance(value, Path) else value)}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def config_rows() -> Iterator[tuple[str, str, str, str, str]]:
    """(section, key, type, default, description) for every key of every section."""
    from prismrec.config import SECTIONS

    for section, model in SECTIONS.items():
        for key, field in model.model_fields.items():
            yield (
                section,
                key,
                _type_name(field.annotation) + _bounds(field),
                _default(field),
                field.description or "",
            )


def render_config() -> str:
    """Every section and key: type, default and description, from the pydantic models."""
    from prismrec.config import SECTIONS

    rows = list(config_rows())
    lines = []
    for section, model in SECTIONS.items():
        doc = (model.__doc__ or "").strip().splitlines()[0].split(": ", 1)[-1]
        lines += [f"## `[{section}]`", "", _cell(doc), ""]
        if section == "serve":
            lines += [
                "Each key can also be set by an environment variable `PRISMREC_<KEY>` (for "
                "example `PRISMREC_MAX_K=50`); see the precedence rule above.",
                "",
            ]
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        for s, key, kind, default, desc in rows:
            if s == section:
                lines.append(f"| `{key}` | {_cell(kind)} | {_cell(default)} | {_cell(desc)} |")
        lines.append("")
    return "\n".join(lines)


# ---- CLI -----------------------------------------------------------------------------------------
def commands(cmd: Any, path: str) -> Iterator[tuple[str, Any]]:
    subs = getattr(cmd, "commands", None)
    if subs is None:
        yield path, cmd
        return
    for name in sorted(subs):
        yield from commands(subs[name], f"{path} {name}")


def render_cli() -> str:
    """Every command: usage, help and options, from the Typer app."""
    import typer

    from prismrec.cli.main import app

    root = typer.main.get_command(app)
    lines: list[str] = []
    ctx = root.make_context("prismrec", ["--help"], resilient_parsing=True)
    lines += ["## Global options", "", "| option | description |", "|---|---|"]
    for p in root.params:
        rec = p.get_help_record(ctx)
        if rec is not None and not getattr(p, "hidden", False):
            lines.append(f"| `{_cell(rec[0])}` | {_cell(rec[1])} |")
    lines.append("")
    for path, cmd in commands(root, "prismrec"):
        ctx = cmd.make_context(path, [], resilient_parsing=True)
        usage = " ".join(cmd.get_usage(ctx).split()).removeprefix("Usage: ")
        help_text = (cmd.help or "").strip()
        lines += [f"## `{path}`", "", "```text", usage, "```", "", help_text, ""]
        args = [p for p in cmd.params if p.param_type_name == "argument"]
        opts = [p for p in cmd.params if p.param_type_name == "option"]
        rows = [(p.metavar or (p.name or "").upper(), getattr(p, "help", "") or "") for p in args]
        for p in opts:
            rec = None if getattr(p, "hidden", False) else p.get_help_record(ctx)
            if rec is not None:
                rows.append(rec)
        if rows:
            lines += ["| argument or option | description |", "|---|---|"]
            lines += [f"| `{_cell(name)}` | {_cell(desc)} |" for name, desc in rows]
            lines.append("")
    return "\n".join(lines)


# ---- HTTP ----------------------------------------------------------------------------------------
def openapi() -> dict[str, Any]:
    """The service's OpenAPI document as the routes declare it (no model loaded)."""
    from prismrec.config import ServeSettings
    from prismrec.serving.http.app import create_app
    from prismrec.serving.http.appstate import app_state

    with tempfile.TemporaryDirectory() as tmp:
        settings = ServeSettings(model_dir=Path(tmp), store=f"sqlite:{tmp}/state.db")
        app = create_app(settings)
        spec: dict[str, Any] = app.openapi()
        app_state(app).keys.close()
    # the bodies are parsed by dependencies, so the document names them once a model is loaded
    # (event types, item fields); here their model-independent shape
    from prismrec.serving.http.schemas import EventsIn

    events = EventsIn.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(events.pop("$defs", {}))
    schemas["EventsIn"] = events
    bodies = {
        ("/v1/events", "post"): {"$ref": "#/components/schemas/EventsIn"},
        ("/v1/items/{item_id}", "put"): {
            "type": "object",
            "description": "the item's catalogue fields, e.g. title, genres, year (the "
            "model's item fields; listed in the running server's /openapi.json)",
        },
    }
    for (path, method), schema in bodies.items():
        if path in spec["paths"] and method in spec["paths"][path]:
            content = {"application/json": {"schema": schema}}
            spec["paths"][path][method]["requestBody"] = {"required": True, "content": content}
    return spec


def _schema_type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return f"`{schema['$ref'].rsplit('/', 1)[-1]}`"
    if "anyOf" in schema or "oneOf" in schema:
        return " or ".join(_schema_type(s) for s in schema.get("anyOf") or schema["oneOf"])
    if schema.get("type") == "array":
        return f"list of {_schema_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " or ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = str(schema.get("type", "any"))
    bounds = [
        f"{sign} {schema[key]}"
        for key, sign in (("minimum", ">="), ("maximum", "<="), ("maxLength", "length <="))
        if key in schema
    ]
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def _answer_body(content: dict[str, Any]) -> str:
    """An answer's body: its JSON schema's name, else its media types (``text/plain`` ...)."""
    json_body = content.get("application/json")
    if json_body is not None:
        return _schema_type(json_body.get("schema", {}))
    return " or ".join(f"`{media}`" for media in content)


def render_http() -> str:
    """Every route: parameters, body and answers; then the schemas, from the OpenAPI document."""
    spec = openapi()
    lines: list[str] = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            lines += [f"## `{method.upper()} {path}`", ""]
            text = op.get("description") or op.get("summary") or ""
            if text:
                lines += [text.strip(), ""]
            params = op.get("parameters", [])
            if params:
                lines += [
                    "| parameter | in | type | required | description |",
                    "|---|---|---|---|---|",
                ]
                for p in params:
                    schema = p.get("schema", {})
                    desc = p.get("description") or schema.get("description") or ""
                    default = f" (default `{schema['default']}`)" if "default" in schema else ""
                    lines.append(
                        f"| `{p['name']}` | {p['in']} | {_cell(_schema_type(schema))} | "
                        f"{'yes' if p.get('required') else 'no'} | {_cell(desc + default)} |"
                    )
                lines.append("")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            if body:
                schema = body.get("schema", {})
                note = f" ({schema['description']})" if schema.get("description") else ""
                lines += [f"Body: {_schema_type(schema)}{note}", ""]
            lines += ["| answer | body | meaning |", "|---|---|---|"]
            for code, resp in op.get("responses", {}).items():
                body = _cell(_answer_body(resp.get("content", {})))
                lines.append(f"| {code} | {body} | {_cell(resp.get('description', ''))} |")
            lines.append("")
    lines += ["## Schemas", ""]
    for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items()):
        lines += [f"### `{name}`", ""]
        if schema.get("description"):
            lines += [_cell(schema["description"]), ""]
        if "oneOf" in schema:
            lines += [f"One of {_schema_type(schema)}.", ""]
        props = schema.get("properties", {})
        if props:
            required = set(schema.get("required", []))
            lines += ["| field | type | required | description |", "|---|---|---|---|"]
            for field, sub in props.items():
                needed = "yes" if field in required else "no"
                lines.append(
                    f"| `{field}` | {_cell(_schema_type(sub))} | {needed} | "
                    f"{_cell(sub.get('description', ''))} |"
                )
            lines.append("")
    return "\n".join(lines)


PAGES = {"config": render_config, "cli": render_cli, "http": render_http}


def render(name: str) -> str:
    """The generated markdown for ``config``, ``cli`` or ``http``."""
    return PAGES[name]()


if __name__ == "__main__":
    sys.stdout.write(render(sys.argv[1] if len(sys.argv) > 1 else "config"))
