"""Tools for a developer's machine, not part of any service: the launcher behind `make run` /
`make start` / `make stop` (every service as a local process) and the demo that plays the seed
stories through the HTTP API (`make demo`). They may import any service; no service imports them."""
