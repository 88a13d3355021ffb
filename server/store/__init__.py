"""Where the server keeps things: InfluxDB for readings, a relational database for the rest."""
