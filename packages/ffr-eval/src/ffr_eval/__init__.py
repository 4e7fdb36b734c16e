"""ffr-eval: benchmark registry and loaders, answer extraction, official metrics, resumable runner and reports.

``evaluate(model_or_dir, processor, samples, cfg)`` evaluates in-process (a loaded model or a model directory);
``ffr eval`` runs benchmarks from the command line. The trainer validates with its own generation engine
(``ffr_train.validation``) and does not depend on this package.
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
