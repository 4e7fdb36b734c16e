"""Wall time per named phase (decode, generate, teacher, update, ...), added up over calls. Training logs it per step
as ``time/<phase>``; evaluation writes it per benchmark as ``<phase>`` seconds."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class PhaseTimer:
    def __init__(self, phases: Iterable[str] = ()):
        """``phases`` are reported (as 0) even when nothing was timed in them."""
        self.seconds: dict[str, float] = defaultdict(float, {name: 0.0 for name in phases})

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def as_metrics(self, prefix: str = "time/") -> dict[str, float]:
        return {f"{prefix}{k}": round(v, 4) for k, v in self.seconds.items()}
