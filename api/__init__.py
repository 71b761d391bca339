"""The HTTP API: FastAPI app factory, authentication, GraphQL, feeds and REST edges."""
