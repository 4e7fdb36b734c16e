"""Benchmark registry and loaders. Importing this package registers every built-in benchmark."""

from ffr_eval.benchmarks import general, long_and_synth, reasoning  # noqa: F401  (register the entries)
from ffr_eval.benchmarks.base import BENCHMARKS, Benchmark, NativeFormat, Skip, get_benchmark
from ffr_eval.benchmarks.loading import LoadedBenchmark, known_benchmarks, load_benchmark, resolve_benchmark

__all__ = ["BENCHMARKS", "Benchmark", "LoadedBenchmark", "NativeFormat", "Skip", "get_benchmark", "known_benchmarks",
           "load_benchmark", "resolve_benchmark"]
