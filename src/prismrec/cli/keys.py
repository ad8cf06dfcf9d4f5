"""``prismrec keys ...``: create, list and revoke API keys."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated

import typer
from rich.table import Table

from prismrec.cli._common import console, err_console, guard, print_json
from prismrec.errors import UnknownIdError

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)

DEFAULT_STORE = "sqlite:prismrec-state.db"
StoreOpt = Annotated[
    str,
    typer.Option("--store", "-s", help="where keys live: sqlite:PATH or redis://HOST:PORT/DB"),
]


class RoleChoice(str, Enum):
    read = "read"
    write = "write"
    admin = "admin"


@app.command()
def create(
    role: Annotated[RoleChoice, typer.Option("--role", "-r", help="read < write < admin")],
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Create a key and print it once: only its salted hash is stored."""
    from prismrec.serving.access.auth import create_key

    with guard():
        key = create_key(store, role.value)
    err_console.print(
        f"[bold yellow]warning:[/] this {role.value} key is shown only now and is not stored; "
        "copy it somewhere safe. Send it as 'Authorization: Bearer KEY'.",
        highlight=False,
    )
    console.print(key, markup=False, highlight=False, soft_wrap=True)


@app.command("list")
def list_keys(
    store: StoreOpt = DEFAULT_STORE,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List key ids, roles and creation times (never the keys or their hashes)."""
    from prismrec.serving.access.auth import KeyStore

    with guard():
        keys = KeyStore(store)
        try:
            keys.ping()
            infos = keys.list_keys()
        finally:
            keys.close()
    rows = [
        {
            "key_id": i.key_id,
            "role": i.role.value,
            "created": dt.datetime.fromtimestamp(i.created, dt.UTC).isoformat(),
        }
        for i in infos
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("key_id", "role", "created (UTC)")
    for r in rows:
        table.add_row(r["key_id"], r["role"], r["created"])
    console.print(table)


@app.command()
def revoke(
    key_id: Annotated[str, typer.Argument(help="the id shown by 'keys list'")],
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from prismrec.serving.access.auth import KeyStore

    with guard():
        keys = KeyStore(store)
        try:
            keys.ping()
            if not keys.revoke(key_id):
                raise UnknownIdError(f"no key with id {key_id!r} in this store; see 'keys list'")
        finally:
            keys.close()
    console.print(f"revoked {key_id}", markup=False, highlight=False)
