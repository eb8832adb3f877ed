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

from experiments.costs import summary
from experiments.eval_stages import RESULTS, eval_stages, row_servers
from experiments.manifest import ExperimentError, Manifest, locked
from experiments.runner import execute, plan
from experiments.servers import factories
from experiments.spec import Spec, SpecError, load_spec
from experiments.stages import Stage, data_stages
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
    p.add_argument("--dry-run", action="store_true", help="print the stages, their commands, what would be "
                   "skipped, and the calls, tokens and training tokens of those to run; start nothing, write nothing")
    p.add_argument("--price-in", type=float, metavar="USD", help="with --dry-run: USD per million prompt tokens")
    p.add_argument("--price-out", type=float, metavar="USD", help="with --dry-run: USD per million completion tokens")
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


def prices(args: argparse.Namespace) -> tuple[float, float] | None:
    if (args.price_in is None) != (args.price_out is None) or (not args.dry_run and args.price_in is not None):
        raise ExperimentError("pass --price-in and --price-out together, with --dry-run")
    if args.price_in is None:
        return None
    if min(args.price_in, args.price_out) < 0:
        raise ExperimentError("--price-in and --price-out are USD per million tokens: numbers ≥ 0")
    return args.price_in, args.price_out


def dry_run(spec: Spec, out: Path, manifest: Manifest, stages: list[Stage], priced: tuple[float, float] | None) -> None:
    """Each stage's action and command, with the figures of those to run; then the totals."""
    steps = plan(stages, manifest)
    lines, total = summary(spec, out, [s.stage.name for s in steps if s.action != "skip"], priced)
    for step in steps:
        print(f"{step.action:5} {step.stage.name}: {step.why}\n      {step.stage.command()}")
        if step.stage.name in lines:
            print(f"      {lines[step.stage.name]}")
    print(total)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        priced = prices(args)
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
            dry_run(spec, out, Manifest(out, spec.name, args.spec), stages, priced)  # reads only
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
