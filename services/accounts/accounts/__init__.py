"""The accounts service: who may sign in to the officers' web pages, with what role and scope.

Its own store: an event-sourced Account per person (created, password re-hashed, disabled —
a history an auditor can read) and, in plain tables, what is not history: sessions and
failed sign-in counters (accounts.tables). Imports only shared/ and its own modules; the
gateway reaches it over RPC.
"""
