"""Honest rates for the progress view: a time-weighted moving average, and how rates and durations read.

Pure (the clock is passed in), so the smoothing is tested with hand-made timelines.
"""

from __future__ import annotations

import math

# Time constant of the smoothing: a change in speed is 63% shown after this long, 99% after five times it.
TAU_S = 120.0
# Below this many seconds of history the average over the whole run is used (the EWMA has nothing yet).
WARMUP_S = 5.0


class Smoothed:
    """Rate of a growing counter (items done, tokens): an exponentially weighted average of the rate
    seen between samples, weighted by time (alpha = 1 - exp(-dt / tau)), so bursts of completions do
    not swing the estimate while a real change in speed still shows within a few minutes."""

    def __init__(self, t0: float, tau_s: float = TAU_S) -> None:
        self.t0, self.tau_s = t0, tau_s
        self._t, self._count = t0, 0.0
        self._rate: float | None = None

    def add(self, now: float, count: float) -> None:
        """Record the counter's value at time `now` (seconds, monotonic)."""
        dt = now - self._t
        if now - self.t0 < WARMUP_S or dt <= 0:
            return
        seen = (count - self._count) / dt
        if self._rate is None:  # the first sample averages the whole warm-up
            self._rate = seen
        else:
            self._rate += (1.0 - math.exp(-dt / self.tau_s)) * (seen - self._rate)
        self._t, self._count = now, count

    def rate(self, now: float, count: float) -> float:
        """Per second: the smoothed rate once warmed up, the whole-run average before."""
        if self._rate is not None:
            return self._rate
        elapsed = now - self.t0
        return count / elapsed if elapsed > 0 else 0.0


def per_time(per_s: float, unit: str = "") -> str:
    """A rate as people read it: "3.2/s" at 1 or more per second, "14/min" or "0.5/min" below."""
    sep = f" {unit}" if unit else ""
    if per_s >= 1:
        return f"{per_s:,.1f}{sep}/s"
    per_min = per_s * 60
    return f"{per_min:,.1f}{sep}/min" if per_min < 10 else f"{per_min:,.0f}{sep}/min"


def duration(seconds: float) -> str:
    """H:MM:SS, or "–" when unknown (no rate yet)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "–"
    h, rem = divmod(round(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


def eta(remaining: int, per_s: float) -> float:
    """Seconds left at `per_s`; infinite when nothing is moving."""
    if remaining <= 0:
        return 0.0
    return remaining / per_s if per_s > 0 else math.inf
