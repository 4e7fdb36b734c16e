"""ffr-eval: benchmark registry and loaders, answer extraction, official metrics, resumable runner and reports.

``evaluate(model_or_dir, processor, samples, cfg)`` evaluates in-process (the trainer's validation);
``ffr eval`` runs benchmarks from the command line.
"""

from importlib.metadata import version as _version

from ffr_eval.config import EvalConfig
from ffr_eval.runner import evaluate

__version__ = _version("ffr-eval")
__all__ = ["EvalConfig", "evaluate"]
