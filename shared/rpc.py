"""Make our domain errors cross nameko RPC as themselves.

nameko serialises a raised exception as its type path and args; a class registered
here is rebuilt on the caller's side, so the gateway and CLI can map it to an HTTP
status or exit code instead of parsing RemoteError text.
"""

from nameko.exceptions import deserialize_to_instance

from shared.errors import ALL_ERRORS

for _error in ALL_ERRORS:
    deserialize_to_instance(_error)
