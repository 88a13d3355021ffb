#!/usr/bin/env bash
# InfluxDB 2.x: a bucket for writes (/api/v2/write) and the DBRP mapping that lets CareWatch
# read it with InfluxQL over /query. Needs the `influx` CLI configured with an operator token.
set -euo pipefail
ORG=${INFLUX_ORG:?set INFLUX_ORG}
DB=${CAREWATCH_INFLUX_DB:-carewatch}
influx bucket create --org "$ORG" --name "$DB" --retention 87600h
BUCKET_ID=$(influx bucket list --org "$ORG" --name "$DB" --hide-headers | cut -f1)
influx v1 dbrp create --org "$ORG" --db "$DB" --rp autogen --bucket-id "$BUCKET_ID" --default
influx auth create --org "$ORG" --description carewatch-server \
    --read-bucket "$BUCKET_ID" --write-bucket "$BUCKET_ID"
echo "bucket $DB mapped for InfluxQL; put the new token in CAREWATCH_INFLUX__TOKEN"
