"""The web app for coordinators (server-rendered pages) and the JSON API under /api/v1."""

from napflow.web.app import create_app

__all__ = ["create_app"]
