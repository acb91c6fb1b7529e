"""Code shared by every service: wire contract, errors, catalogs, persistence, relay."""
