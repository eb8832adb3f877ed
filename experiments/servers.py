"""The servers an experiment's stages need the runner to start: the embedded model, and the models the spec
names with `serve:` (vLLM on this machine), and each row's model. Each starts before a stage that needs it and
stops once the next stage does not (experiments.runner.execute), or when the runner ends: Ctrl-C, SIGTERM and
errors included."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from experiments.manifest import ExperimentError
from experiments.spec import Served, Spec
from experiments.stages import server_key

Factory = Callable[[], AbstractContextManager[Any]]


@contextlib.contextmanager
def served(ref: Served, log: Callable[[str], object]) -> Iterator[None]:
    from graph.serve import vllm
    from graph.serve.process import ServerProcess

    server = ServerProcess(vllm.launch(host="127.0.0.1", port=ref.port, model=ref.serve, extra_args=ref.args),
                           port=ref.port)
    log(f"starting {ref.serve} (vLLM) on {server.url} … (up to {server.startup_timeout:.0f}s)")
    server.start()
    log(f"{ref.serve} ready in {server.startup_seconds:.1f}s")
    try:
        yield
    finally:
        server.stop()
        log(f"{ref.serve} stopped")


def factories(spec: Spec, embedded_port: int, log: Callable[[str], object],
              rows: Iterable[Served] = ()) -> dict[str, Factory]:
    """Server key (experiments.stages.server_key) → a factory of the context that serves it; `rows`: the
    servers of the table's rows."""
    from graph.serve.embedded import embedded_server

    out: dict[str, Factory] = {"embedded": lambda: embedded_server(port=embedded_port, log=log)}
    for ref in (spec.models.backbone, spec.models.generator, spec.models.teacher, spec.eval.grader, *rows):
        if isinstance(ref, Served):
            if ref.port == embedded_port:
                raise ExperimentError(f"the served model {ref.serve} would take the embedded model's port {ref.port}; "
                                      "give it another port in the spec (for the rows' servers: eval.port)")
            out[str(server_key(ref))] = lambda ref=ref: served(ref, log)  # type: ignore[misc]
    return out
