"""python -m experiments.run SPEC --out DIR [--dry-run]: run an experiment's stages into one directory.

Each stage is one of the project's own commands (its line is in the output, the manifest and its log), so
every check and message those commands have applies. Run it again: done stages whose fingerprint is unchanged
are skipped, changed ones are redone with a line saying why, interrupted ones continue.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from experiments.eval_stages import RESULTS, eval_stages, row_servers
from experiments.manifest import ExperimentError, Manifest, locked
from experiments.runner import execute, plan
from experiments.servers import factories
from experiments.spec import SpecError, load_spec
from experiments.stages import data_stages
from experiments.train_stages import training_stages
from graph.serve.embedded import embedded_port
from graph.serve.process import ServeError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m experiments.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", type=Path, help="experiment spec (YAML), e.g. experiments/specs/laptop.yaml")
    p.add_argument("--out", type=Path, required=True, help="the experiment directory (created; reused to resume)")
    p.add_argument("--until", metavar="STAGE", help="run the stages up to and including STAGE (e.g. sr_data: the "
                   "data only), leaving the later ones for another run")
    p.add_argument("--dry-run", action="store_true", help="print the stages, their commands and what would be "
                   "skipped; start nothing, write nothing")
    return p.parse_args(argv)


@contextlib.contextmanager
def sigterm_stops() -> Iterator[None]:
    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        spec = load_spec(args.spec)
        out = Path(os.path.normpath(args.out))  # `runs/exp` and `./runs/exp/` are one experiment
        if out.exists() and not out.is_dir():
            raise ExperimentError(f"--out {out} is a file; pass a directory for the experiment")
        port = embedded_port()
        trained = training_stages(spec, out)
        stages = [*data_stages(spec, out, f"http://127.0.0.1:{port}/v1"), *trained,
                  *eval_stages(spec, out, port, [stage.name for stage in trained])]
        if args.until is not None:
            names = [stage.name for stage in stages]
            if args.until not in names:
                raise ExperimentError(f"--until {args.until}: this spec has no such stage; its stages: {', '.join(names)}")
            stages = stages[: names.index(args.until) + 1]
        if args.dry_run:
            manifest = Manifest(out, spec.name, args.spec)  # reads only
            for step in plan(stages, manifest):
                print(f"{step.action:5} {step.stage.name}: {step.why}\n      {step.stage.command()}")
            return 0
        with locked(out), sigterm_stops():
            manifest = Manifest(out, spec.name, args.spec)
            steps = plan(stages, manifest)
            print(f"experiment {spec.name} in {out}: {sum(s.action != 'skip' for s in steps)} of {len(steps)} stages to run",
                  flush=True)
            log = lambda m: print(m, flush=True)  # noqa: E731
            execute(steps, manifest, out, factories(spec, port, log, row_servers(spec, out).values()), log=log)
        results = out / RESULTS
        if stages[-1].name == "results" and results.is_file():
            print("\n" + results.read_text(encoding="utf-8"), flush=True)
        print(f"experiment {spec.name}: every stage done in {out}; manifest {out / 'manifest.json'}", flush=True)
        return 0
    except (SpecError, ExperimentError, ServeError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("error: stopped; run the same command again to continue", file=sys.stderr, flush=True)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
