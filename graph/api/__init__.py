"""HTTP API over the analytics (FastAPI): arrives with issue #6."""
