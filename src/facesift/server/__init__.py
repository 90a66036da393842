"""What the JSON API and the web pages share: the app that serves both (``create_app``), the
services it holds (``context``), who is calling (``security``) and the typed path
parameters (``params``). ``api/`` and ``web/`` sit on this package and never import each
other.

``create_app`` loads on first use (PEP 562): the app imports every page module, so importing
it here made ``import facesift.web.rendering`` (which needs ``server.context``) circular.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from facesift.lazy import lazy_names

if TYPE_CHECKING:
    from facesift.server.app import create_app

__all__ = ["create_app"]

__getattr__ = lazy_names(__name__, {"create_app": "facesift.server.app"})
