"""Duplicate detection and ordering over many findings with bounded memory.

Up to `SPILL_AT` items everything happens in memory. Above it the keys go to a private temporary
sqlite database (``sqlite3.connect("")``: a file sqlite creates unlinked and deletes on close,
its page cache capped at `CACHE_KIB`), so a report over 100,000 findings does not hold 100,000
keys. Both paths give the same answer: strings compare as UTF-8 bytes (code-point order, as
Python compares them), ties keep the order the items came in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

SPILL_AT = 20_000
"""Items above which keys are spilled to the temporary database."""
CACHE_KIB = 4096
"""Page cache of the temporary database (KiB)."""
_INT_LIMIT = 2**62


def _column(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")  # code-point order under memcmp
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"unsupported key part {type(value).__name__}")
    return max(-_INT_LIMIT, min(_INT_LIMIT, value))


def _connect() -> Any:
    import sqlite3

    db = sqlite3.connect("")
    db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    return db


def duplicates(keys: Iterable[bytes], count: int) -> set[bytes]:
    """The keys that occur more than once (`count`: how many `keys` there are)."""
    if count <= SPILL_AT:
        seen: set[bytes] = set()
        dup: set[bytes] = set()
        for k in keys:
            if k in seen:
                dup.add(k)
            else:
                seen.add(k)
        return dup
    with contextlib.closing(_connect()) as db:
        db.execute("CREATE TABLE k (d BLOB NOT NULL)")
        db.executemany("INSERT INTO k VALUES (?)", ((k,) for k in keys))
        return {bytes(row[0]) for row in db.execute("SELECT d FROM k GROUP BY d HAVING count(*) > 1")}


def ordered(keys: Iterable[Sequence[Any]], count: int, width: int) -> Iterator[tuple[Any, ...]]:
    """`keys` (tuples of `width` str/int parts, `count` of them) in ascending order; equal keys
    in the order given (a stable sort)."""
    if count <= SPILL_AT:
        yield from (k for k, _ in sorted((tuple(k), i) for i, k in enumerate(keys)))
        return
    cols = [f"c{j}" for j in range(width)]
    with contextlib.closing(_connect()) as db:
        db.execute(f"CREATE TABLE o (seq INTEGER PRIMARY KEY, {', '.join(cols)})")
        marks = ", ".join("?" * (width + 1))
        db.executemany(f"INSERT INTO o VALUES ({marks})",
                       ((i, *(_column(v) for v in k)) for i, k in enumerate(keys)))
        for row in db.execute(f"SELECT {', '.join(cols)} FROM o ORDER BY {', '.join(cols)}, seq"):
            yield tuple(v.decode("utf-8", "surrogatepass") if isinstance(v, bytes) else v for v in row)
