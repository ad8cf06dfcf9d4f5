"""MkDocs hooks: generated reference sections, from the code, at build time.

A page line ``<!-- generated: NAME -->`` becomes ``scripts/reference.py``'s ``render(NAME)``
(``config``, ``cli`` or ``http``), so the configuration, CLI and HTTP references cannot drift.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "src", ROOT / "scripts"):  # this checkout's code, not another install
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import reference  # noqa: E402

MARK = re.compile(r"^<!-- generated: (\w+) -->$", re.MULTILINE)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any, **_: Any) -> str:
    return MARK.sub(lambda m: reference.render(m.group(1)), markdown)
