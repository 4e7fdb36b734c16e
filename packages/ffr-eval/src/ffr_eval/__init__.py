"""ffr-eval: benchmark registry and loaders, answer extraction, official metrics, resumable runner and reports.

``evaluate(model_or_dir, processor, samples, cfg)`` evaluates in-process (the trainer's validation);
``ffr eval`` runs benchmarks from the command line.
"""

from importlib.metadata import version as _version

from ffr_eval.config import EvalConfig

__version__ = _version("ffr-eval")
__all__ = ["EvalConfig", "evaluate"]


def __getattr__(name: str):
    # The runner imports torch and transformers; loading it lazily keeps `ffr --help` fast.
    if name == "evaluate":
        from ffr_eval.runner import evaluate

        return evaluate
    raise AttributeError(name)
