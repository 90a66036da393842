"""The HTTP surface: a FastAPI app serving the JSON API (``/api``) and the web pages.

Handlers hold no business logic: they read the request, call one service, and shape the
answer. Who may do what is decided in ``facesift.governance`` through the services.
"""

from facesift.api.app import create_app

__all__ = ["create_app"]
