"""The CareWatch server: MQTT ingest, InfluxDB and relational stores, the API and pages."""
