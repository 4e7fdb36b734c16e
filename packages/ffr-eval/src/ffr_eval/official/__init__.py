"""The official reading: every benchmark scored by exactly the rules of the scorer its published numbers come from.

Native releases are scored as lmms-eval scores them (per-benchmark ``process_results`` and aggregation, after its
default reasoning-tag stripping); files in the Video-R1-eval / FFR schema as Video-R1's ``src/eval_bench.py`` does.
Benchmarks without a ported reference have no official reading (their ``metrics.official`` is empty).
"""

from ffr_eval.official import mvbench, tempcompass, videomme, videor1, vsibench  # noqa: F401  (register them)
from ffr_eval.official.base import (
    EXCLUDED,
    FLAG_MEANINGS,
    JUDGE,
    OFFICIAL,
    SCORERS,
    WHOLE_OUTPUT,
    OfficialScorer,
)

__all__ = ["EXCLUDED", "FLAG_MEANINGS", "JUDGE", "OFFICIAL", "SCORERS", "WHOLE_OUTPUT", "OfficialScorer",
           "official_scorer"]


def official_scorer(native_scorer: str | None, source_format: str) -> OfficialScorer | None:
    """The reference for a benchmark loaded from ``source_format``: Video-R1's for the Video-R1 / FFR schema (files
    and in-memory samples), the benchmark's own for its native release, None when that one is not ported."""
    if source_format != "native":
        return SCORERS[videor1.VIDEO_R1]
    return SCORERS.get(native_scorer) if native_scorer else None
