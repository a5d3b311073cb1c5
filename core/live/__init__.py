"""The `/ws` live feed without Ray or sockets: the protocol's messages and one replica's fan-out.

`protocol` holds the messages a client and the server exchange (pydantic models, from which
`schema` writes docs/ws-protocol.schema.json); `feed` follows the event hub and hands events
to the matching clients' bounded queues. `serve_app.live` runs them on real sockets.
"""
