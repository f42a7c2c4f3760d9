"""Reading the predictions file of `model bias`: CSV always (the csv module), Parquet and JSON
lines with pandas. Bounded in size; a file that is not UTF-8 is an input error naming the line."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgegate.errors import InputError

MAX_INPUT_BYTES = 2 * 1024**3


def read_columns(path: str | Path, columns: Sequence[str]) -> tuple[list[list[str]], str]:
    """The named columns of a CSV (always), Parquet or JSON-lines file (with pandas/pyarrow),
    as strings, one list per row. Returns the rows and the format name."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file" if not p.exists() else "not a regular file", p)
    size = p.stat().st_size
    if size > MAX_INPUT_BYTES:
        raise InputError(f"file is larger than the {MAX_INPUT_BYTES // 1024**3} GiB limit", p)
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq", ".jsonl", ".ndjson"):
        return _read_with_pandas(p, columns, suffix), suffix.lstrip(".")
    return _read_csv(p, columns), "csv"


def _read_csv(p: Path, columns: Sequence[str]) -> list[list[str]]:
    try:
        return _read_csv_text(p, columns)
    except UnicodeDecodeError:
        raise InputError("not valid UTF-8 text; save the file as UTF-8", p, _first_bad_line(p)) from None


def _first_bad_line(p: Path) -> int | None:
    """The 1-based line holding the first byte sequence that is not UTF-8 (read line by line)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    from edgegate.io.files import open_input

    with open_input(p) as fh:
        while chunk := fh.read(1024 * 1024):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return line + chunk[: exc.start].count(b"\n")
            line += chunk.count(b"\n")
    return None


def _read_csv_text(p: Path, columns: Sequence[str]) -> list[list[str]]:
    import io

    from edgegate.io.files import open_input

    fh = io.TextIOWrapper(open_input(p), encoding="utf-8-sig", newline="")  # regular files only
    with fh:
        sample = fh.read(64 * 1024)
        if "\x00" in sample:
            raise InputError("binary file, expected CSV", p)
        fh.seek(0)
        reader = csv.reader(fh, _dialect(p, sample))
        try:
            header = next(reader)
        except StopIteration:
            raise InputError("empty CSV file (no header row)", p) from None
        except csv.Error as exc:
            raise InputError(f"malformed CSV: {exc}", p, 1) from None
        index = _column_index(header, columns, p)
        rows: list[list[str]] = []
        line = 1
        try:
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if len(row) != len(header):
                    raise InputError(f"row has {len(row)} fields, the header has {len(header)}", p, line)
                rows.append([row[i] for i in index])
        except csv.Error as exc:
            raise InputError(f"malformed CSV: {exc}", p, line) from None
    return rows


def _dialect(p: Path, sample: str) -> Any:
    """Comma (tab for .tsv); another delimiter only when the header clearly uses it."""
    if p.suffix.lower() in (".tsv", ".tab"):
        return csv.excel_tab
    first = sample.split("\n", 1)[0]
    if "," in first or not first:
        return csv.excel
    try:
        return csv.Sniffer().sniff(first, delimiters=";\t|")
    except csv.Error:
        return csv.excel


def _column_index(header: Sequence[str], columns: Sequence[str], p: Path) -> list[int]:
    names = [h.strip() for h in header]
    out = []
    for col in columns:
        if col not in names:
            shown = ", ".join(names[:20]) + (", …" if len(names) > 20 else "")
            raise InputError(f"no column {col!r} (columns: {shown})", p, 1)
        out.append(names.index(col))
    return out


def _read_with_pandas(p: Path, columns: Sequence[str], suffix: str) -> list[list[str]]:
    try:
        import pandas as pd
    except ImportError:
        raise InputError(f"reading {suffix} files needs pandas (CSV works without it)", p) from None
    try:
        df = pd.read_parquet(p) if suffix in (".parquet", ".pq") else pd.read_json(p, lines=True, dtype=False)
    except ImportError as exc:
        raise InputError(f"reading {suffix} files needs pyarrow: {exc}", p) from None
    except Exception as exc:  # pandas raises many types on malformed input
        raise InputError(f"cannot read {suffix.lstrip('.')}: {type(exc).__name__}: {exc}", p) from None
    names = [str(c) for c in df.columns]
    _column_index(names, columns, p)
    out: list[list[str]] = []
    for values in df[list(columns)].itertuples(index=False, name=None):
        out.append(["" if v is None or (isinstance(v, float) and math.isnan(v)) else _text(v) for v in values])
    return out


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


