"""What the services promise each other, and the gateway promises its clients.

``wire_events``: every event type that travels on RabbitMQ, with the service that emits
it and its payload's schema. ``nominations``, ``awards``, ``notifications``: the input
models of each service's commands and queries (its RPC contract), which the service
validates with and the gateway reads to check queries and publish the OpenAPI document.
No service imports another service's package; what they share is here. Pure: no I/O.
"""
