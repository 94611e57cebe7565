"""The version of geodigitize (the one place it is written: pyproject.toml reads it)."""

# a literal, not importlib.metadata: that import alone cost 20 ms of every command's start
__version__ = "0.1.0"

__all__ = ["__version__"]
