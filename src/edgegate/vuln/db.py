"""The offline vulnerability database: OSV records indexed by (ecosystem, package) in sqlite.

`build_db` turns a folder or zip of OSV records into a database file; `open_db` opens such a
file, or builds one in memory straight from a folder or zip, so a scan can use either.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from edgegate.errors import InputError
from edgegate.findings import Severity
from edgegate.vuln.osv import Advisory, Affected, LoadStats, LoadWarning, iter_source
from edgegate.vuln.severity import Rating
from edgegate.vuln.versions import ecosystem_base

SCHEMA_VERSION = 1
"""Bump when the tables change; a database with a higher number is refused."""

_SQLITE_MAGIC = b"SQLite format 3\x00"
_MAX_WARNINGS_KEPT = 1000

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE advisories (
    id TEXT PRIMARY KEY, aliases TEXT NOT NULL, summary TEXT NOT NULL, level TEXT,
    rating_source TEXT, score REAL, vector TEXT, modified TEXT, published TEXT, source TEXT
);
CREATE TABLE affected (
    base TEXT NOT NULL, ecosystem TEXT NOT NULL, name TEXT NOT NULL, advisory TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE warnings (source TEXT NOT NULL, message TEXT NOT NULL);
"""
_INDEX = "CREATE INDEX affected_pkg ON affected (base, name);"


class DatabaseError(InputError):
    """A database file edgegate cannot use (wrong kind, corrupt, from a newer edgegate)."""


@dataclass
class DbInfo:
    """What `edgegate vuln db info` shows."""

    path: str
    schema_version: int
    built_at: datetime
    source: str
    edgegate_version: str
    advisories: int
    packages: dict[str, int]
    """Affected-package entries per ecosystem base."""
    files: int
    withdrawn: int
    skipped: int
    warnings: list[str] = field(default_factory=list)

    def age_days(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(timezone.utc)) - self.built_at).total_seconds() / 86400


def _edgegate_version() -> str:
    try:
        from importlib.metadata import version

        return version("edgegate")
    except Exception:
        return "unknown"


def _fill(conn: sqlite3.Connection, advisories: Iterable[Advisory], stats: LoadStats, source: str) -> None:
    conn.executescript(_SCHEMA)
    advisories = list(advisories)
    if not advisories and not stats.withdrawn:
        if stats.files == 0:
            raise InputError("no OSV records (*.json, *.yaml, *.yml) found", source)
        first = f": {stats.warnings[0]}" if stats.warnings else ""
        raise InputError(f"none of the {stats.files} files holds a valid OSV record{first}", source)
    seen: set[str] = set()
    adv_rows: list[tuple[Any, ...]] = []
    aff_rows: list[tuple[str, str, str, str, str]] = []
    for adv in advisories:
        if adv.id in seen:
            stats.warnings.append(LoadWarning(adv.source, f"duplicate advisory id {adv.id}; kept the first"))
            continue
        seen.add(adv.id)
        r = adv.rating
        adv_rows.append((
            adv.id, json.dumps(list(adv.aliases)), adv.summary,
            r.level.value if r else None, r.source if r else None, r.score if r else None,
            r.vector if r else None, adv.modified, adv.published, adv.source,
        ))
        for a in adv.affected:
            aff_rows.append((a.base, a.ecosystem, a.name, adv.id, json.dumps(a.to_json(), separators=(",", ":"))))
    conn.executemany("INSERT INTO advisories VALUES (?,?,?,?,?,?,?,?,?,?)", adv_rows)
    conn.executemany("INSERT INTO affected VALUES (?,?,?,?,?)", aff_rows)
    conn.execute(_INDEX)
    conn.executemany(
        "INSERT INTO warnings VALUES (?,?)", [(w.source, w.message) for w in stats.warnings[:_MAX_WARNINGS_KEPT]]
    )
    meta = {
        "schema_version": str(SCHEMA_VERSION),
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": source,
        "edgegate_version": _edgegate_version(),
        "files": str(stats.files),
        "withdrawn": str(stats.withdrawn),
        "skipped": str(len(stats.warnings)),
    }
    conn.executemany("INSERT INTO meta VALUES (?,?)", sorted(meta.items()))
    conn.commit()


def build_db(source: Path, output: Path) -> tuple[DbInfo, list[LoadWarning]]:
    """Build a database file at `output` (written atomically) from OSV records in `source`."""
    stats = LoadStats()
    advisories = iter_source(source, stats)
    from edgegate.io.output import atomic_path, output_target

    real, through = output_target(output)
    with atomic_path(output, "the database") as tmp:
        conn = sqlite3.connect(tmp)
        try:
            _fill(conn, advisories, stats, str(source))
            conn.execute("VACUUM")
        finally:
            conn.close()
        if through:  # a device or FIFO: describe the database before it goes
            db = open_db(tmp)
            try:
                return db.info(), stats.warnings
            finally:
                db.close()
    db = open_db(real)
    try:
        return db.info(), stats.warnings
    finally:
        db.close()


def is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(16) == _SQLITE_MAGIC
    except OSError:
        return False


class VulnDB:
    """An open database: package lookups and its metadata."""

    def __init__(self, conn: sqlite3.Connection, path: str, load_warnings: list[LoadWarning] | None = None) -> None:
        self._conn = conn
        self.path = path
        self.load_warnings = load_warnings or []
        """Records skipped while building an in-memory database from a folder or zip."""
        self._advisories: dict[str, Advisory] = {}
        self._lookups: dict[tuple[str, str], list[tuple[str, Affected]]] = {}
        self._ecosystems: frozenset[str] | None = None
        self._check_schema()

    def close(self) -> None:
        self._conn.close()

    def _meta(self) -> dict[str, str]:
        try:
            rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
        except sqlite3.DatabaseError as exc:
            if "no such table" in str(exc):
                raise DatabaseError("not an edgegate vulnerability database (no metadata table)", self.path) from None
            raise DatabaseError(f"corrupt vulnerability database ({exc})", self.path) from None
        return {str(k): str(v) for k, v in rows}

    def _check_schema(self) -> None:
        meta = self._meta()
        try:
            version = int(meta["schema_version"])
        except (KeyError, ValueError):
            raise DatabaseError("not an edgegate vulnerability database (no schema version)", self.path) from None
        if version > SCHEMA_VERSION:
            raise DatabaseError(
                f"database schema {version} was written by a newer edgegate ({meta.get('edgegate_version', '?')});"
                f" this edgegate reads schema {SCHEMA_VERSION}: upgrade edgegate or rebuild the database with"
                " `edgegate vuln db build`",
                self.path,
            )
        if version < SCHEMA_VERSION:
            raise DatabaseError(
                f"database schema {version} is older than this edgegate's ({SCHEMA_VERSION}); rebuild it with"
                " `edgegate vuln db build`",
                self.path,
            )

    def info(self) -> DbInfo:
        meta = self._meta()
        try:
            built = datetime.fromisoformat(meta["built_at"])
            if built.tzinfo is None:
                built = built.replace(tzinfo=timezone.utc)
            count = int(self._conn.execute("SELECT count(*) FROM advisories").fetchone()[0])
            packages = {
                str(b): int(n)
                for b, n in self._conn.execute("SELECT base, count(*) FROM affected GROUP BY base ORDER BY base")
            }
            warnings = [f"{s}: {m}" for s, m in self._conn.execute("SELECT source, message FROM warnings")]
        except (KeyError, ValueError, sqlite3.DatabaseError) as exc:
            raise DatabaseError(f"corrupt vulnerability database ({exc})", self.path) from None
        return DbInfo(
            path=self.path,
            schema_version=int(meta["schema_version"]),
            built_at=built,
            source=meta.get("source", ""),
            edgegate_version=meta.get("edgegate_version", ""),
            advisories=count,
            packages=packages,
            files=int(meta.get("files", "0")),
            withdrawn=int(meta.get("withdrawn", "0")),
            skipped=int(meta.get("skipped", "0")),
            warnings=warnings,
        )

    def ecosystems(self) -> frozenset[str]:
        """Every ecosystem (with release, e.g. ``Debian:12``) the database has advisories for."""
        if self._ecosystems is None:
            try:
                rows = self._conn.execute("SELECT DISTINCT ecosystem FROM affected").fetchall()
            except sqlite3.DatabaseError as exc:
                raise DatabaseError(f"corrupt vulnerability database ({exc})", self.path) from None
            self._ecosystems = frozenset(str(r[0]) for r in rows)
        return self._ecosystems

    def advisory(self, vid: str) -> Advisory:
        cached = self._advisories.get(vid)
        if cached is not None:
            return cached
        try:
            row = self._conn.execute(
                "SELECT id, aliases, summary, level, rating_source, score, vector, modified, published, source"
                " FROM advisories WHERE id = ?",
                (vid,),
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"corrupt vulnerability database ({exc})", self.path) from None
        if row is None:
            raise DatabaseError(f"corrupt vulnerability database (advisory {vid} missing)", self.path)
        rating = Rating(Severity(row[3]), row[4], row[5], row[6]) if row[3] else None
        adv = Advisory(
            id=row[0], aliases=tuple(json.loads(row[1])), summary=row[2], rating=rating,
            modified=row[7], published=row[8], source=row[9] or "",
        )
        self._advisories[vid] = adv
        return adv

    def lookup(self, ecosystem: str, name: str) -> list[tuple[Advisory, Affected]]:
        """Every (advisory, affected entry) for package `name` in any release of `ecosystem`'s
        base (the caller filters releases, e.g. ``Debian:12``)."""
        base = ecosystem_base(ecosystem)
        key = (base, name)
        rows = self._lookups.get(key)
        if rows is None:
            try:
                found = self._conn.execute(
                    "SELECT advisory, ecosystem, data FROM affected WHERE base = ? AND name = ?", key
                ).fetchall()
            except sqlite3.DatabaseError as exc:
                raise DatabaseError(f"corrupt vulnerability database ({exc})", self.path) from None
            rows = [(str(a), Affected.from_json(str(e), name, json.loads(d))) for a, e, d in found]
            self._lookups[key] = rows
        return [(self.advisory(vid), entry) for vid, entry in rows]


def open_db(path: Path) -> VulnDB:
    """Open a database file, or build one in memory from a folder or zip of OSV records."""
    if not path.exists():
        raise InputError("no such vulnerability database, folder or zip", path)
    if path.is_file() and is_sqlite(path):
        try:
            conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot open database: {exc}", path) from None
        return VulnDB(conn, str(path))
    if path.is_file():
        with path.open("rb") as fh:
            if fh.read(4) != b"PK\x03\x04":
                raise DatabaseError("not a vulnerability database, OSV folder or zip of OSV records", path)
    stats = LoadStats()
    conn = sqlite3.connect(":memory:")
    _fill(conn, iter_source(path, stats), stats, str(path))
    return VulnDB(conn, str(path), stats.warnings)
