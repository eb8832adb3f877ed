"""The endpoint pool behind HttpClient: least-loaded routing, ejection of failing endpoints, outage detection."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from nodes.llm.client import EndpointsDown, LLMError
from state.config import EndpointConfig


@dataclass(slots=True)
class Endpoint:
    """One base URL: its load, its health, and what was learnt of its model's context."""

    url: str
    in_flight: int = 0
    failures: int = 0
    ejected_until: float = 0.0
    down_since: float | None = None
    requests: int = 0
    completion_tokens: int = 0
    context: int | None = None  # max_model_len from /models (vLLM); None: not reported
    last_error: LLMError | None = None  # what the latest failure was, for the run-stopped message
    context_known: bool = False
    tokenize: bool = True  # until /tokenize is found missing
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Pool:
    """Picks the least-loaded live endpoint; takes one out of rotation after `eject_after` failures in a
    row and tries it again after `probe_after_s`; raises EndpointsDown once all have been out too long."""

    def __init__(self, config: EndpointConfig) -> None:
        self.config = config
        self.endpoints = [Endpoint(url) for url in config.base_urls]
        self._rr = 0

    async def pick(self) -> Endpoint:
        while True:
            now = time.monotonic()
            n = len(self.endpoints)
            live = [(i, ep) for i, ep in enumerate(self.endpoints) if ep.ejected_until <= now]
            if live:
                # Least loaded first; ties go round-robin, so calls one at a time visit every endpoint in turn.
                self._rr += 1
                return min(live, key=lambda item: (item[1].in_flight, (item[0] - self._rr) % n))[1]
            downs = [ep.down_since for ep in self.endpoints if ep.down_since is not None]
            if downs and now - max(downs) >= self.config.all_down_after_s:
                raise self._down()
            # Wake at the next probe or when the all-down deadline passes, whichever comes first.
            wake = min(ep.ejected_until for ep in self.endpoints)
            if downs:
                wake = min(wake, max(downs) + self.config.all_down_after_s)
            await asyncio.sleep(max(0.05, wake - now))

    def _down(self) -> EndpointsDown:
        """The outage, labelled with the kind of its latest error (an HTTP 500 is `http`, not `connection`)."""
        urls = ", ".join(ep.url for ep in self.endpoints)
        latest = max(self.endpoints, key=lambda ep: ep.down_since or 0.0).last_error
        kind, status = (latest.kind, latest.status) if latest else ("connection", None)
        last = f"; the last error: {latest.kind}{f' {status}' if status else ''}: {latest.message[:200]}" if latest else ""
        return EndpointsDown(kind, f"every endpoint has been failing for {self.config.all_down_after_s:g}s ({urls}){last}; "
                             "check the servers, then run the same command again to resume", status=status)

    def fleet_down(self) -> bool:
        return all(ep.down_since is not None for ep in self.endpoints)

    def failed(self, ep: Endpoint, error: LLMError | None = None) -> None:
        ep.failures += 1
        ep.last_error = error or ep.last_error
        if ep.failures >= self.config.eject_after:
            now = time.monotonic()
            ep.ejected_until = now + self.config.probe_after_s
            if ep.down_since is None:
                ep.down_since = now

    @staticmethod
    def succeeded(ep: Endpoint) -> None:
        ep.failures, ep.down_since, ep.ejected_until = 0, None, 0.0
        ep.requests += 1
