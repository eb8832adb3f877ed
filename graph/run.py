"""python -m graph.run: the million-query job. Streams ids, stores every outcome, resumes exactly.

  python -m graph.run --n 1000000 --db runs/main.sqlite --seed 0 --base-url http://gpu1:8000/v1 \\
      --base-url http://gpu2:8000/v1 --concurrency 2048 [--refiner contgen] [--shard 3/8] \\
      [--teacher-base-url http://gpu9:8000/v1] [--workers 2]
  python -m graph.run --db runs/main.sqlite            # resume the same run after a kill
  python -m graph.run --db runs/main.sqlite --retry-failed
  python -m graph.run --queries-from healthbench --db runs/hb.sqlite   # given queries (HealthBench format)

Without --base-url (and none in the config) the embedded SmolLM2 server is started and stopped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from graph.batch.engine import Engine, Slice, Stats
from graph.batch.plan import dry_run
from graph.batch.progress import Progress, summary_line
from graph.batch.teacher import run_teacher_stage, wants_teacher_stage
from graph.batch.workers import run_engine, run_workers, worker_count
from graph.cli import (
    EXIT_STOPPED,
    add_run_args,
    arun,
    endpoints,
    fail,
    resolve_from_args,
    run_cli,
)
from graph.queries.given import check_source, summary, use_given_queries
from graph.queries.source import load_source
from graph.store.db import Store
from graph.store.owner import owned
from graph.store.preflight import (
    check_files,
    check_integrity,
    check_models,
    check_pregenerated,
    read_run,
)
from graph.store.resume import same_run
from graph.url_flags import UrlList
from state.config import RunConfig

EXIT_ALL_FAILED = 1  # the run finished, but no id got a result
EXIT_INTERRUPTED = 130  # SIGINT or SIGTERM: stopped cleanly, resumable


def parse_shard(text: str | None) -> tuple[int, int]:
    """'3/8' → (3, 8); None → (0, 1)."""
    if not text:
        return 0, 1
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        fail(f"--shard {text!r} must look like i/N, e.g. 3/8")
    if count < 1 or not 0 <= index < count:
        fail(f"--shard {text!r}: need 0 <= i < N")
    return index, count


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, default=Path("runs/main.sqlite"), help="Run store (SQLite); created if new.")
    parser.add_argument("--n", type=int, help="Number of queries (ids 0…n-1). Needed for a new store.")
    parser.add_argument("--seed", type=int, help="Sampling seed (default 0 for a new run).")
    parser.add_argument("--shard", help="i/N: run only the ids ≡ i (mod N); merge shard stores with graph.merge.")
    parser.add_argument("--concurrency", type=int, default=256, help="Graphs in flight per worker (default 256).")
    parser.add_argument("--workers", type=int, default=1, help="Worker processes sharing the store (default 1).")
    parser.add_argument("--teacher-base-url", action=UrlList, metavar="URL", help="Teacher endpoint: also store KD answers.")
    parser.add_argument("--teacher-model", help="Teacher model name (default: discovered).")
    parser.add_argument("--generator-base-url", action=UrlList, metavar="URL", help="Query-generator endpoint (default: backbone).")
    parser.add_argument("--generator-model", help="Query-generator model name (default: discovered).")
    parser.add_argument("--priors", type=Path, help="YAML overriding the attribute priors.")
    parser.add_argument("--retry-failed", action="store_true", help="Run again the ids recorded in failures.")
    parser.add_argument("--force", action="store_true", help="Resume even though the settings differ from the stored run.")
    parser.add_argument("--queries-from", metavar="FILE", help="Run these queries instead of generated ones: a HealthBench "
                        "JSONL (healthbench: the bundled sample; multi-turn rows skipped) or {\"query\": ...} lines; "
                        "--n keeps the first N.")
    parser.add_argument("--dry-run", action="store_true", help="Print ids, calls per stage, tokens (and cost); no server, nothing written.")
    parser.add_argument("--price-in", type=float, help="With --dry-run: USD per million prompt tokens.")
    parser.add_argument("--price-out", type=float, help="With --dry-run: USD per million completion tokens.")
    add_run_args(parser)


def extra_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted config keys set by graph.run's own flags (teacher, generator, priors)."""
    out: dict[str, Any] = {"priors_file": args.priors}
    for role in ("teacher", "generator"):
        urls, model = getattr(args, f"{role}_base_url"), getattr(args, f"{role}_model")
        if urls:
            out[f"{role}.base_urls"] = urls
        if model:
            out[f"{role}.model"] = model
    return out


def execute(args: argparse.Namespace, db: Path, config: RunConfig, seed: int, n: int, shard: tuple[int, int],
            already: int, lock_fd: int) -> Stats:
    """Run the engine (or --workers processes) over the shard with a live progress view; combined stats."""
    index, count = shard
    total = len(range(index, n, count))
    workers = worker_count(args.workers, total - already, lambda msg: print(msg, file=sys.stderr, flush=True))
    with Progress(total, already) as progress:
        if workers == 1:
            engine = Engine(db, config, seed, Slice(n, index, count), args.concurrency, args.retry_failed,
                            on_stats=progress.update)
            stats = run_engine(engine)
        else:
            parts = [Slice(n, index + count * w, count * workers) for w in range(workers)]
            stats = run_workers(db, config, seed, parts, args.concurrency, args.retry_failed, lock_fd, progress.update)
        progress.update(stats, force=True)
        stats.elapsed_s = progress.elapsed_s
        return stats


def _done(store: Store, n: int, index: int, count: int) -> int:
    """Ids of this run's range and shard already stored (a --force resume may have shrunk --n)."""
    sql = "SELECT count(*) FROM {} WHERE id < ? AND id % ? = ?"
    return sum(store.conn.execute(sql.format(t), (n, count, index)).fetchone()[0] for t in ("results", "failures"))


def _top_failure(db: Path) -> str:
    store = Store.open(db)
    try:
        row = store.conn.execute("SELECT stage, error_class, message, count(*) AS c FROM failures "
                                 "GROUP BY stage, error_class ORDER BY c DESC LIMIT 1").fetchone()
    finally:
        store.conn.close()
    return f"mostly {row[0]}: {row[1]}: {row[2][:200]}" if row else "see the failures table"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graph.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(parser)
    args = parser.parse_args(argv)
    if args.n is not None and args.n < 1:
        fail(f"--n must be at least 1, not {args.n}")
    if args.concurrency < 1 or args.workers < 1:
        fail("--concurrency and --workers must be at least 1")
    parse_shard(args.shard)
    if args.dry_run:  # before the store is opened: nothing is created, upgraded or locked
        print(dry_run(args, extra_overrides(args)))
        return 0
    db: Path = args.db
    source = load_source(args.queries_from, args.n) if args.queries_from else None
    stored, was_embedded = read_run(db)
    if stored is None and args.n is None and source is None:
        fail(f"{db} holds no run yet; pass --n N (or --queries-from FILE) to start one")
    n = source.n if source else args.n if args.n is not None else stored["n"]  # type: ignore[index]
    seed = args.seed if args.seed is not None else (stored["seed"] if stored else 0)
    shard_text = args.shard if args.shard is not None else (stored["shard"] if stored else "")
    shard = parse_shard(shard_text)
    profile = stored["config"] if stored else None
    if profile and was_embedded and not args.base_urls:
        profile = {**profile, "endpoint": {**profile["endpoint"], "base_urls": []}}
    config = resolve_from_args(args, extra=extra_overrides(args), base=profile)
    check_files(config)  # everything is checked before the first write: a typo leaves no run row behind
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    if wants_teacher_stage(stored, args.teacher_base_url, args.teacher_model):  # KD answers for a stored run
        stage = run_teacher_stage(db, config, args.concurrency, log)
        if stage.stopped:
            fail(f"teacher stage stopped: {stage.stopped}; its answers so far are stored, run the same command to "
                 "resume", EXIT_INTERRUPTED if stage.stopped.startswith("interrupted") else EXIT_STOPPED)
        return 0
    if stored is not None and not args.force:  # before any server is started
        same_run(db, stored, config, seed, n, shard_text)
    with owned(db, "graph.run") as lock_fd, endpoints(config.endpoint.base_urls, log) as (urls, embedded):
        if embedded:
            config = resolve_from_args(args, urls, embedded=None if stored else embedded, extra=extra_overrides(args),
                                       base=profile)
            if args.concurrency > embedded.concurrency:
                log(f"embedded model ({embedded.engine}): --concurrency {args.concurrency} lowered to {embedded.concurrency}")
                args.concurrency = embedded.concurrency
        config = arun(check_models(config))
        existed = db.exists() and db.stat().st_size > 0
        store = Store.open(db, create=True)
        try:
            if existed:
                check_integrity(store)
            check_source(store, source)
            stored = store.run_row()  # read again under the lock
            if stored is not None and not args.force:
                same_run(db, stored, config, seed, n, shard_text)
            if not use_given_queries(store, source, *shard):
                check_pregenerated(store, config, seed, n, *shard)
            if not stored or args.force or n > stored["n"]:  # a new run, or the same one grown
                store.write_run(config.model_dump(mode="json"), seed, n, shard_text)
            with store.conn:
                store.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('embedded', ?)", ("1" if embedded else "0",))
            already = _done(store, n, *shard) if not args.retry_failed else 0
        finally:
            store.conn.close()
        if source is not None:
            print(summary(source), file=sys.stderr)
        print(f"run: n={n} seed={seed} shard={shard_text or '-'} refiner={config.refiner} facets={','.join(config.facets)} "
              f"endpoints={','.join(config.endpoint.base_urls)} db={db}", file=sys.stderr)
        stats = execute(args, db, config, seed, n, shard, already, lock_fd)
    final = Store.open(db)
    results, failures = final.count("results"), final.count("failures")
    final.conn.close()
    print(summary_line(stats, stats.elapsed_s, results, failures, db), file=sys.stderr)
    if stats.stopped and stats.stopped.startswith("interrupted"):
        fail(f"run stopped: {stats.stopped}; every finished id is stored, run the same command to resume", EXIT_INTERRUPTED)
    if stats.stopped:
        fail(f"run stopped: {stats.stopped}", EXIT_STOPPED)
    if stats.done and stats.failed == stats.done:
        fail(f"every one of the {stats.done} ids run failed ({_top_failure(db)}); fix the cause, then "
             "run the same command with --retry-failed", EXIT_ALL_FAILED)
    return 0


if __name__ == "__main__":
    run_cli(main)
