#!/usr/bin/env bash
# InfluxDB 1.6/1.7 (Debian, Raspberry Pi OS): the CareWatch database with a retention policy
# fit for years of sparse readings (long shard groups keep the shard count low).
set -euo pipefail
URL=${INFLUX_URL:-http://127.0.0.1:8086}
DB=${CAREWATCH_INFLUX_DB:-carewatch}
q() { curl -fsS -XPOST "$URL/query" --data-urlencode "q=$1" >/dev/null; }
q "CREATE DATABASE \"$DB\""
q "CREATE RETENTION POLICY \"ten_years\" ON \"$DB\" DURATION 520w REPLICATION 1 SHARD DURATION 52w DEFAULT"
echo "database $DB ready at $URL (default retention policy ten_years)"
