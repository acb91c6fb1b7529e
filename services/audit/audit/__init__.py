"""The audit service: read-only, over the services' logs, for auditors.

``toolkit`` reads each instance's log (never writes it) a page at a time, verifies hash
chains and signed checkpoints, replays logs to a moment and exports bundles; ``annual_report``
builds the report to the Interior office from the logs; ``service`` answers the gateway's
``/audit/*`` routes over RPC; ``cli`` is `exemplars audit …`, which works offline too.

It may import shared and, to replay a log exactly as its owner reads it, the read-model code
of the services it audits (tests/unit/test_rooms.py names those modules); no service imports it.
"""
