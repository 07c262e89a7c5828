"""Council: a small multi-tenant FastAPI backend where organisations ask several LLMs at once."""
