"""`edgegate model bias`: group fairness metrics of a binary classifier's predictions.

Per group: count, base rate, selection rate, TPR, FPR, FNR, precision. Across groups:
demographic parity difference and ratio, equalized odds difference (the Fairlearn
definitions: max minus min, or min over max, across all groups), FPR and FNR gaps and the
disparate-impact ratio (against `privileged` when given, else across all groups). A metric a
threshold needs that is undefined for some group (no positives, no negatives) is an input
error, never a pass.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegate.errors import InputError
from edgegate.findings import Finding, GateResult, Location, Severity

GATE = "model-bias"
MAX_INPUT_BYTES = 2 * 1024**3

_TRUE = frozenset({"1", "true", "yes", "y", "t", "1.0", "positive", "pos"})
_FALSE = frozenset({"0", "false", "no", "n", "f", "0.0", "negative", "neg"})
_MISSING = frozenset({"", "na", "nan", "null", "none", "n/a"})


@dataclass(frozen=True)
class Thresholds:
    """Limits that fail the gate; None disables a limit."""

    max_fpr_gap: float | None = 0.10
    max_fnr_gap: float | None = 0.10
    min_disparate_impact: float | None = 0.80
    max_demographic_parity_difference: float | None = None
    min_demographic_parity_ratio: float | None = None
    max_equalized_odds_difference: float | None = None


@dataclass(frozen=True)
class BiasSpec:
    """Which columns hold what."""

    label: str
    group: str
    prediction: str | None = None
    score: str | None = None
    threshold: float | None = None
    privileged: str | None = None
    positive_label: str | None = None
    """Label value that means positive (default: 1/true/yes)."""
    positive_values: frozenset[str] | None = None
    """Prediction values that mean positive, for categorical predictions (e.g. Medium, High)."""

    def validate(self) -> None:
        if (self.prediction is None) == (self.score is None):
            raise InputError("give exactly one of --prediction COL or --score COL (with --threshold)")
        if self.score is not None and self.threshold is None:
            raise InputError("--score needs --threshold (prediction = score >= threshold)")
        if self.threshold is not None and self.score is None:
            raise InputError("--threshold only applies with --score")
        if self.threshold is not None and not math.isfinite(self.threshold):
            raise InputError("--threshold must be a finite number")


@dataclass
class GroupStats:
    group: str
    count: int = 0
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    @property
    def positives(self) -> int:
        return self.tp + self.fn

    @property
    def negatives(self) -> int:
        return self.fp + self.tn

    def rate(self, metric: str) -> float | None:
        """A metric by name; None when undefined (zero denominator)."""
        num, den = {
            "base_rate": (self.positives, self.count),
            "selection_rate": (self.tp + self.fp, self.count),
            "tpr": (self.tp, self.positives),
            "fpr": (self.fp, self.negatives),
            "fnr": (self.fn, self.positives),
            "precision": (self.tp, self.tp + self.fp),
        }[metric]
        return num / den if den else None


_UNDEFINED_WHY = {
    "tpr": "no positive labels",
    "fnr": "no positive labels",
    "fpr": "no negative labels",
    "precision": "no positive predictions",
    "selection_rate": "no rows",
    "base_rate": "no rows",
}
METRICS = ("base_rate", "selection_rate", "tpr", "fpr", "fnr", "precision")


@dataclass
class BiasReport:
    groups: dict[str, GroupStats]
    overall: GroupStats
    metrics: dict[str, float] = field(default_factory=dict)
    rows: int = 0


# -- reading ---------------------------------------------------------------------------------


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
        except (csv.Error, UnicodeDecodeError) as exc:
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
        except UnicodeDecodeError:
            raise InputError("not valid UTF-8 text", p, line + 1) from None
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


# -- computing -------------------------------------------------------------------------------


def _binary(value: str, positive: str | None, what: str, col: str, path: Path, row: int) -> bool:
    v = value.strip()
    if v.lower() in _MISSING:
        raise InputError(f"missing {what} in column {col!r}", path, row)
    if positive is not None:
        return v == positive
    low = v.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise InputError(
        f"{what} {v!r} in column {col!r} is not binary (0/1, true/false); "
        f"name the positive value with --positive-label / --positive-values",
        path,
        row,
    )


def compute(rows: Iterable[Sequence[str]], spec: BiasSpec, path: Path) -> BiasReport:
    """Confusion counts per group. `rows` hold [label, prediction-or-score, group]."""
    groups: dict[str, GroupStats] = {}
    overall = GroupStats("(all)")
    n = 0
    label_values: set[str] = set()
    pred_col = spec.prediction or spec.score or ""
    for i, (label_raw, pred_raw, group_raw) in enumerate(rows):
        row = i + 2  # 1-based, after the header
        label = _binary(label_raw, spec.positive_label, "label", spec.label, path, row)
        label_values.add(label_raw.strip())
        if spec.score is not None:
            try:
                score = float(pred_raw)
            except ValueError:
                raise InputError(f"score {pred_raw!r} in column {spec.score!r} is not a number", path, row) from None
            if not math.isfinite(score):
                raise InputError(f"score {pred_raw!r} in column {spec.score!r} is not finite", path, row)
            assert spec.threshold is not None
            pred = score >= spec.threshold
        elif spec.positive_values is not None:
            if pred_raw.strip().lower() in _MISSING:
                raise InputError(f"missing prediction in column {pred_col!r}", path, row)
            pred = pred_raw.strip() in spec.positive_values
        else:
            pred = _binary(pred_raw, None, "prediction", pred_col, path, row)
        group = group_raw.strip()
        if group.lower() in _MISSING:
            raise InputError(f"missing group in column {spec.group!r}", path, row)
        g = groups.setdefault(group, GroupStats(group))
        for target in (g, overall):
            target.count += 1
            if label and pred:
                target.tp += 1
            elif label:
                target.fn += 1
            elif pred:
                target.fp += 1
            else:
                target.tn += 1
        n += 1
    if n == 0:
        raise InputError("no data rows", path)
    if spec.positive_label is not None and len(label_values) > 2:
        shown = ", ".join(sorted(label_values)[:6])
        raise InputError(f"label column {spec.label!r} has {len(label_values)} values ({shown}); expected 2", path)
    if spec.privileged is not None and spec.privileged not in groups:
        shown = ", ".join(sorted(groups)[:20])
        raise InputError(f"privileged group {spec.privileged!r} not found in column {spec.group!r} (groups: {shown})", path)
    if len(groups) < 2:
        raise InputError(f"column {spec.group!r} has only one group; fairness needs at least two", path)
    return BiasReport(groups=groups, overall=overall, rows=n)


def _values(report: BiasReport, metric: str, needed: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, g in report.groups.items():
        v = g.rate(metric)
        if v is None:
            if needed:
                raise InputError(
                    f"{metric.upper() if len(metric) == 3 else metric} is undefined for group {name!r} "
                    f"({_UNDEFINED_WHY[metric]} among its {g.count} rows); it cannot be compared"
                )
            continue
        out[name] = v
    return out


def _gap(values: Mapping[str, float], privileged: str | None) -> tuple[float, str, str]:
    """Largest difference: against the privileged group if given, else max minus min."""
    if privileged is not None:
        base = values[privileged]
        other = max((k for k in values if k != privileged), key=lambda k: abs(values[k] - base))
        return abs(values[other] - base), other, privileged
    hi = max(values, key=lambda k: values[k])
    lo = min(values, key=lambda k: values[k])
    return values[hi] - values[lo], hi, lo


def evaluate(report: BiasReport, spec: BiasSpec, thresholds: Thresholds, shown: str) -> GateResult:
    """Metrics, threshold checks and the per-group table."""
    t = thresholds
    sel = _values(report, "selection_rate", True)
    tpr = _values(report, "tpr", t.max_equalized_odds_difference is not None)
    fpr = _values(report, "fpr", t.max_equalized_odds_difference is not None or t.max_fpr_gap is not None)
    fnr = _values(report, "fnr", t.max_fnr_gap is not None)
    metrics: dict[str, float | None] = {}
    dp_diff = max(sel.values()) - min(sel.values())
    metrics["demographic_parity_difference"] = dp_diff
    metrics["demographic_parity_ratio"] = (min(sel.values()) / max(sel.values())) if max(sel.values()) > 0 else None
    complete = len(tpr) == len(report.groups) and len(fpr) == len(report.groups)
    metrics["equalized_odds_difference"] = (
        max(max(tpr.values()) - min(tpr.values()), max(fpr.values()) - min(fpr.values())) if complete else None
    )
    findings: list[Finding] = []
    checks: list[list[Any]] = []
    priv = spec.privileged

    def check(metric: str, value: float | None, limit: float | None, upper: bool, rule: str, what: str,
              pair: tuple[str, str] | None) -> None:
        if limit is None:
            return
        if value is None or not math.isfinite(value):
            raise InputError(f"{what} is undefined for this data; the limit on it cannot be checked", shown)
        ok = value <= limit if upper else value >= limit
        checks.append([metric, round(value, 4), ("≤ " if upper else "≥ ") + str(limit), "pass" if ok else "FAIL"])
        if not ok:
            between = f" (between {pair[0]!r} and {pair[1]!r})" if pair else ""
            findings.append(
                Finding(
                    gate=GATE,
                    rule_id=rule,
                    severity=Severity.HIGH,
                    message=f"{what} is {value:.4f}{between}; the limit is {'at most' if upper else 'at least'} {limit}",
                    location=Location(path=shown),
                    title=what,
                    details={"metric": metric, "value": value, "limit": limit, "groups": list(pair or ())},
                )
            )

    if fpr:
        v, a, b = _gap(fpr, priv if priv in fpr else None)
        metrics["fpr_gap"] = v
        check("fpr_gap", v, t.max_fpr_gap, True, "EGB001", "False positive rate gap", (a, b))
    else:
        check("fpr_gap", None, t.max_fpr_gap, True, "EGB001", "False positive rate gap", None)
    if fnr:
        v, a, b = _gap(fnr, priv if priv in fnr else None)
        metrics["fnr_gap"] = v
        check("fnr_gap", v, t.max_fnr_gap, True, "EGB002", "False negative rate gap", (a, b))
    else:
        check("fnr_gap", None, t.max_fnr_gap, True, "EGB002", "False negative rate gap", None)
    if priv is not None:
        base = sel[priv]
        others = {k: v for k, v in sel.items() if k != priv}
        worst = min(others, key=lambda k: others[k])
        di: float | None = others[worst] / base if base > 0 else None
        di_pair: tuple[str, str] | None = (worst, priv)
    else:
        di = metrics["demographic_parity_ratio"]
        di_pair = (min(sel, key=lambda k: sel[k]), max(sel, key=lambda k: sel[k]))
    metrics["disparate_impact"] = di
    check("disparate_impact", di, t.min_disparate_impact, False, "EGB003", "Disparate impact ratio", di_pair)
    check("demographic_parity_difference", dp_diff, t.max_demographic_parity_difference, True, "EGB004",
          "Demographic parity difference", None)
    check("demographic_parity_ratio", metrics["demographic_parity_ratio"], t.min_demographic_parity_ratio, False,
          "EGB005", "Demographic parity ratio", None)
    check("equalized_odds_difference", metrics["equalized_odds_difference"], t.max_equalized_odds_difference, True,
          "EGB006", "Equalized odds difference", None)

    def fmt(v: float | None) -> float | None:
        return None if v is None else round(v, 4)

    group_rows = [
        [g.group, g.count, *(fmt(g.rate(m)) for m in METRICS)]
        for g in sorted(report.groups.values(), key=lambda g: (-g.count, g.group))
    ]
    group_rows.append([report.overall.group, report.overall.count, *(fmt(report.overall.rate(m)) for m in METRICS)])
    stats: dict[str, Any] = {
        "rows": report.rows,
        "groups": len(report.groups),
        "metrics": {k: fmt(v) for k, v in metrics.items()},
        "per_group": {
            g.group: {"count": g.count, **{m: g.rate(m) for m in METRICS}, "tp": g.tp, "fp": g.fp, "tn": g.tn, "fn": g.fn}
            for g in report.groups.values()
        },
        "tables": [
            {
                "title": f"fairness by {spec.group}",
                "columns": ["group", "count", "base rate", "selection rate", "TPR", "FPR", "FNR", "precision"],
                "rows": group_rows,
            },
            {"title": "fairness limits", "columns": ["metric", "value", "limit", "result"], "rows": checks},
        ],
    }
    return GateResult.decide(GATE, findings, stats=stats)


def run_bias(path: str | Path, spec: BiasSpec, thresholds: Thresholds | None = None) -> GateResult:
    """Read the predictions file, compute the metrics and decide."""
    spec.validate()
    started = time.perf_counter()
    p = Path(path)
    cols = [spec.label, spec.prediction or spec.score or "", spec.group]
    rows, fmt = read_columns(p, cols)
    report = compute(rows, spec, p)
    result = evaluate(report, spec, thresholds or Thresholds(), str(path))
    result.stats["format"] = fmt
    result.stats["seconds"] = round(time.perf_counter() - started, 3)
    return result
