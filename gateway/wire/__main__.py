"""``python -m gateway.wire`` prints the published JSON Schema of a reading batch."""

import json

from gateway.wire.messages import json_schema

print(json.dumps(json_schema(), indent=2, sort_keys=True))
