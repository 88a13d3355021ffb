"""``python -m common.wire [readings|telemetry|hubconfig|receipts|commands]`` prints a published JSON
Schema (default: the reading batch)."""

import json
import sys

from common.wire.commands import commands_json_schema
from common.wire.messages import (
    json_schema,
    receipts_json_schema,
    remote_config_json_schema,
    telemetry_json_schema,
)

SCHEMAS = {
    "readings": json_schema,
    "telemetry": telemetry_json_schema,
    "hubconfig": remote_config_json_schema,
    "receipts": receipts_json_schema,
    "commands": commands_json_schema,
}

which = sys.argv[1] if len(sys.argv) > 1 else "readings"
if which not in SCHEMAS:
    sys.exit(f"usage: python -m common.wire [{'|'.join(SCHEMAS)}]")
print(json.dumps(SCHEMAS[which](), indent=2, sort_keys=True))
