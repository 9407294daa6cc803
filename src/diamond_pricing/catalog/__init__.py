"""The catalog: diamonds, search, feed ingest, dataset versions and the read cache."""
