"""API keys, roles, and (later) the dashboard session."""
