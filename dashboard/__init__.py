"""The lstm-probe dashboard (Dash): ``create_app(dump_paths)``."""

from .app import create_app

__all__ = ["create_app"]
