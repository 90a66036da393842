"""What the app holds while it runs: the services, built by ``facesift.compose``."""

from facesift.compose import Services

__all__ = ["Services"]
