"""The JSON API (``/api``): routes per resource in ``routes/``, served by ``facesift.server``.

Handlers hold no business logic: they read the request, call one service, and shape the
answer. Who may do what is decided in ``facesift.governance`` through the services.
"""
