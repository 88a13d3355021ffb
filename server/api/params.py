"""Parameters the API and the pages share, bounded to what the stores can hold.

A value the database cannot even represent is not "no such row" to the database but an
error: SQLite raises ``OverflowError`` for an integer beyond 64 bits, PostgreSQL "integer out
of range" beyond 32, and either used to reach the client as a 500. Bounding the parameter
here refuses it (422, or the not-found page on the pages) before any query is built.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

#: The largest id an ``Integer`` column holds on every database we run on: PostgreSQL's
#: ``integer`` is 32-bit (SQLite's would take 2**63 - 1, but the bound must hold for both).
ROW_ID_MAX = 2**31 - 1

#: A row id in a URL path (alerts today): 1 .. ROW_ID_MAX.
RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX)]
