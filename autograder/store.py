"""The results of a class, kept as they arrive: one SQLite file (`grades.sqlite` in grade-many's --output-dir).

One row per student and check: its status, kind, points, message, metrics and notes; the isolation level and
seconds; what it was graded on (the hash of the student's assignment folder, the hash of the check's module, the
kit's version) and when. Each student's rows are written in one transaction (the file is in WAL mode), so a grader
killed at any moment leaves every student either graded or not at all. A rerun reads the store first: a submission
whose files and checks are unchanged is not graded again (`todo`), and the gradebook and the per-student reports
are derived from the store, never the other way round.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
import stat
import time
from pathlib import Path

from .report import CheckResult

FILE = "grades.sqlite"
SKIPPED = {"__pycache__", ".ipynb_checkpoints", "runs"}  # what a grading writes into a submission, not the student
SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    student TEXT NOT NULL,
    assignment TEXT NOT NULL,
    check_name TEXT NOT NULL,
    tier TEXT NOT NULL,
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    points REAL NOT NULL,
    max_points REAL NOT NULL,
    hidden INTEGER NOT NULL,
    description TEXT NOT NULL,
    message TEXT NOT NULL,
    output TEXT NOT NULL,
    metrics TEXT NOT NULL,
    notes TEXT NOT NULL,
    isolation TEXT NOT NULL,
    isolation_text TEXT NOT NULL,
    seconds REAL NOT NULL,
    peak_memory_mb REAL,
    submission_hash TEXT NOT NULL,
    check_version TEXT NOT NULL,
    kit_version TEXT NOT NULL,
    graded_at TEXT NOT NULL,
    PRIMARY KEY (student, assignment, check_name)
)
"""
COLUMNS = (
    "student", "assignment", "check_name", "tier", "status", "kind", "points", "max_points", "hidden", "description",
    "message", "output", "metrics", "notes", "isolation", "isolation_text", "seconds", "peak_memory_mb",
    "submission_hash", "check_version", "kit_version", "graded_at",
)  # fmt: skip


@functools.lru_cache(maxsize=1)
def kit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dlvision-kit")
    except PackageNotFoundError:
        return "unknown"


def submission_hash(folder: Path) -> str:
    """sha256 of an assignment folder as submitted: every regular file's path and bytes (links are not followed;
    what a grading itself leaves there is left out). "" for a folder that is not there."""
    folder = Path(folder)
    if not folder.is_dir():
        return ""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if SKIPPED & set(rel.parts):
            continue
        info = path.lstat()
        if stat.S_ISREG(info.st_mode):
            digest.update(f"{rel.as_posix()}\0{info.st_size}\0".encode())
            with open(path, "rb") as f:
                digest.update(hashlib.sha256(f.read()).digest())
        elif stat.S_ISLNK(info.st_mode):
            digest.update(f"{rel.as_posix()}\0link\0".encode())
    return digest.hexdigest()


def check_version(chk) -> str:
    """sha256 of the module that defines the check: a check fixed or changed is graded again."""
    import inspect

    return hashlib.sha256(Path(inspect.getfile(chk.func)).read_bytes()).hexdigest()[:16]


class Store:
    """The results store of one output folder."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(SCHEMA)
        self.db.commit()

    def close(self):
        self.db.close()

    def put(self, student: str, results: list[CheckResult], hashes: dict, versions: dict) -> None:
        """A student's results, all in one transaction (replacing their earlier rows for the same checks).
        hashes: {assignment: submission_hash}; versions: {check id: check_version}."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        rows = [
            (
                student,
                r.assignment,
                r.name,
                r.tier,
                r.status,
                r.kind,
                r.score,
                r.max_score,
                int(r.hidden),
                r.description,
                r.message,
                r.output,
                json.dumps(r.metrics),
                json.dumps(r.notes),
                r.isolation,
                r.isolation_text,
                r.duration,
                r.peak_memory_mb,
                hashes.get(r.assignment, ""),
                versions.get(r.id, ""),
                kit_version(),
                now,
            )  # fmt: skip
            for r in results
        ]
        with self.db:  # one transaction: a kill leaves all of them or none
            self.db.executemany(
                f"INSERT OR REPLACE INTO results ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                rows,
            )

    def rows(self, student: str | None = None) -> list[dict]:
        query = f"SELECT {', '.join(COLUMNS)} FROM results"
        args = ()
        if student is not None:
            query, args = query + " WHERE student = ?", (student,)
        return [dict(zip(COLUMNS, row)) for row in self.db.execute(query + " ORDER BY student, rowid", args)]

    def students(self) -> list[str]:
        return [s for (s,) in self.db.execute("SELECT DISTINCT student FROM results ORDER BY student")]

    def results(self, student: str, checks=None) -> list[CheckResult]:
        """The student's stored results as CheckResults, in the order of `checks` (Check objects) when given."""
        found = {(r["assignment"], r["check_name"]): as_result(r) for r in self.rows(student)}
        if checks is None:
            return list(found.values())
        return [found[c.assignment, c.name] for c in checks if (c.assignment, c.name) in found]

    def todo(self, student: str, checks, hashes: dict, versions: dict, regrade=()) -> list:
        """The checks to grade for `student`: those never graded, graded on other files or by another version of
        the check, and those named in `regrade` (check names or ids)."""
        stored = {
            (r["assignment"], r["check_name"]): (r["submission_hash"], r["check_version"], r["kind"])
            for r in self.rows(student)
        }
        regrade = set(regrade)

        def stale(c) -> bool:
            found = stored.get((c.assignment, c.name))
            if found is None:
                return True
            graded_on, version, kind = found
            changed = graded_on != hashes.get(c.assignment, "") or version != versions.get(c.id, "")
            return changed or kind == "grader_error"  # the grader's own failure: try again

        return [c for c in checks if stale(c) or c.name in regrade or c.id in regrade]


def as_result(row: dict) -> CheckResult:
    return CheckResult(
        row["assignment"],
        row["check_name"],
        row["tier"],
        row["points"],
        row["max_points"],
        row["status"],
        row["message"],
        row["output"],
        row["seconds"],
        isolation=row["isolation"],
        isolation_text=row["isolation_text"],
        hidden=bool(row["hidden"]),
        metrics=json.loads(row["metrics"]),
        kind=row["kind"],
        description=row["description"],
        notes=json.loads(row["notes"]),
        peak_memory_mb=row["peak_memory_mb"],
    )
