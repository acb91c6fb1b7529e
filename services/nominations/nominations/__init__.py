"""The nominations service: each exemplar's event-sourced life, detection to replication."""
