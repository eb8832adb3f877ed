"""Store schema upgrades, run when an existing store is opened for writing (graph.run, merge, report).

Version 1 keyed teacher answers by id alone; version 2 keys them by (id, teacher) so one store holds
several teachers, and records each teacher's model, URLs and sampling in `teachers`. Version-1 rows
belong to the run's configured teacher: its model name when the config named one, else "".
"""

from __future__ import annotations

import json
import sqlite3

TEACHER_DDL = (
    "CREATE TABLE [teacher] ([id] INTEGER, [teacher] TEXT, [reasoning] TEXT, [answer] TEXT, [kept] INTEGER, "
    "[filter_reason] TEXT, [usage] TEXT, [latency_ms] FLOAT, PRIMARY KEY ([id], [teacher]))"
)
TEACHERS_DDL = (
    "CREATE TABLE IF NOT EXISTS [teachers] ([teacher] TEXT PRIMARY KEY, [model] TEXT, [base_urls] TEXT, "
    "[sampling] TEXT, [created] TEXT)"
)
OLD_COLUMNS = "id, reasoning, answer, kept, filter_reason, usage, latency_ms"


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info([{table}])")]


def configured_teacher(conn: sqlite3.Connection) -> tuple[str, dict[str, object] | None]:
    """(name, endpoint section) of the teacher in the stored run's config; ("", None) when it named none."""
    row = conn.execute("SELECT config FROM runs LIMIT 1").fetchone()
    section = json.loads(row[0]).get("teacher") if row and row[0] else None
    return (str(section.get("model") or "") if section else ""), section


def upgrade(conn: sqlite3.Connection) -> None:
    """Bring a version-1 store to version 2 in one transaction; a current store is left as it is."""
    if "teacher" in columns(conn, "teacher") or not columns(conn, "teacher"):
        return
    name, section = configured_teacher(conn)
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        if "teacher" in columns(conn, "teacher"):  # another process upgraded it first
            return
        conn.execute("ALTER TABLE [teacher] RENAME TO [teacher_v1]")
        conn.execute(TEACHER_DDL)
        conn.execute(f"INSERT INTO [teacher] (id, teacher, {OLD_COLUMNS[4:]}) "
                     f"SELECT id, ?, {OLD_COLUMNS[4:]} FROM [teacher_v1]", (name,))
        conn.execute("DROP TABLE [teacher_v1]")
        conn.execute(TEACHERS_DDL)
        if conn.execute("SELECT 1 FROM [teacher] LIMIT 1").fetchone():
            urls = json.dumps((section or {}).get("base_urls") or [])
            conn.execute("INSERT OR IGNORE INTO [teachers] VALUES (?, ?, ?, ?, ?)", (name, name, urls, "{}", ""))
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '2')")
