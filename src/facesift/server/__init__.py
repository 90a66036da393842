"""What the JSON API and the web pages share: the app that serves both (``create_app``), the
services it holds (``context``), who is calling (``security``) and the typed path
parameters (``params``). ``api/`` and ``web/`` sit on this package and never import each
other.
"""

from facesift.server.app import create_app

__all__ = ["create_app"]
