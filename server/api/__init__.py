"""The HTTP API (FastAPI) that clinicians' pages and integrations use."""
