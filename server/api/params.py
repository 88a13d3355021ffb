"""Parameters the API and the pages share, bounded to what the stores can hold.

A value a store cannot even represent is not "no such row" to it but an error: SQLite raises
``OverflowError`` for an integer beyond 64 bits, PostgreSQL "integer out of range" beyond 32,
InfluxDB refuses a time outside its int64 nanoseconds, and each used to reach the client as a
500. Bounding the parameter here refuses it (422, or a page on the pages) before any query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator

from server.store.influx.schema import check_storable_time

#: The largest id an ``Integer`` column holds on every database we run on: PostgreSQL's
#: ``integer`` is 32-bit (SQLite's would take 2**63 - 1, but the bound must hold for both).
ROW_ID_MAX = 2**31 - 1

#: A row id in a URL path (alerts today): 1 .. ROW_ID_MAX.
RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX)]

#: A time to query readings by: with a UTC offset, inside what InfluxDB holds
#: (``server.store.influx.schema.EARLIEST_TIME`` .. ``LATEST_TIME``); else 422 saying so.
StoreTime = Annotated[datetime, AfterValidator(check_storable_time)]
