"""Versions of the installed FFR packages and the libraries that change results, recorded with every run."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

FFR_PACKAGES = ("ffr-data", "ffr-teacher", "ffr-train", "ffr-eval")
LIBRARIES = ("torch", "transformers", "accelerate", "deepspeed", "decord", "opencv-python", "numpy")


def package_versions(names: tuple[str, ...] = FFR_PACKAGES + LIBRARIES) -> dict[str, str]:
    """{distribution: version} for each of ``names`` that is installed."""
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out
