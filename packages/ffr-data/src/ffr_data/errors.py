"""Typed errors. Every message names the file, row or field at fault, on one line."""

from __future__ import annotations


class FFRError(Exception):
    """Base class of every error FFR raises on purpose (bad input, bad config)."""


class ConfigError(FFRError):
    """A config file or override is malformed, or names a key that does not exist."""


class SchemaError(FFRError):
    """A data row fails validation."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None, field: str | None = None):
        self.file, self.row, self.field, self.reason = file, row, field, message
        where = ":".join(str(p) for p in (file, row) if p is not None)
        prefix = f"{where}: " if where else ""
        field_part = f"field '{field}': " if field else ""
        super().__init__(f"{prefix}{field_part}{message}")


class VideoError(FFRError):
    """A video cannot be opened or decoded. Nothing is ever substituted for it."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


class TooFewFramesError(VideoError, ValueError):
    """A video with fewer frames than the sampling needs. Also a ValueError, which it was before it was a VideoError."""
