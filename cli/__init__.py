"""`exemplars`: the officers' and operators' command line, a thin client of the gateway's HTTP API.

Every command is one request to a route of the JSON API (``cli.client``), with the same bearer
tokens and problem details the web pages use; it imports no service's package and calls no RPC.
``exemplars token issue`` mints tokens with the gateway's own rules (gateway.access), and
``exemplars audit …`` mounts the auditors' offline toolkit (audit.cli), which reads logs and
bundles itself.
"""

from cli.commands import main

__all__ = ["main"]
