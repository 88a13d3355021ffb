"""The catalogue's one error, in a module of its own so the loader and the index raise the same
class and callers (the hub at start-up, the server checking a model when pairing) catch it by name."""

from __future__ import annotations

__all__ = ["CatalogueError"]


class CatalogueError(ValueError):
    """The catalogue (or one file of it) is invalid. The message always names the file and the field."""
