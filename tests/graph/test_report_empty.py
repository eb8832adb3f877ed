"""graph.report on a store that holds a run but no result yet: a report, and no warning on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from storekit import cli

from graph.store.db import Store
from state.config import RunConfig


def test_report_of_an_empty_store_prints_no_warning(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    db = tmp_path / "empty.sqlite"
    store = Store.open(db, create=True)
    config = RunConfig.model_validate({"endpoint": {"base_urls": ["http://127.0.0.1:9/v1"]}})
    store.write_run(json.loads(config.model_dump_json()), 0, 5, "")
    store.conn.close()
    proc = cli("graph.report", "--db", str(db), "--out", str(tmp_path / "report"), check=True)
    assert "Warning" not in proc.stderr and "warn" not in proc.stderr.lower(), proc.stderr
    assert (tmp_path / "report" / "lengths.png").stat().st_size > 0
