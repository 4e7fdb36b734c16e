"""Fixtures for training tests (defined in tests/train_support.py)."""

from train_support import flash_data, flash_student  # noqa: F401
