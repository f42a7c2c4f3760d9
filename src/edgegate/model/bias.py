"""`edgegate model bias`: group fairness metrics of a binary classifier's predictions.

Per group: count, base rate, selection rate, TPR, FPR, FNR, precision. Across groups:
demographic parity difference and ratio, equalized odds difference (the Fairlearn
definitions: max minus min, or min over max, across all groups), FPR and FNR gaps and the
disparate-impact ratio. Groups are the values of one column or, with several columns, their
intersections ("African-American & Male"); a group smaller than `min_group_size` is reported
but not judged. Disparate impact is the favourable-outcome rate of each group over the
reference group's (`privileged`, else the best-off group); when the favourable outcome is not
named, both outcomes are judged (a harmful positive prediction cannot hide behind a ratio > 1).
A metric a threshold needs that is undefined for some judged group is an input error, never a
pass.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegate.errors import InputError
from edgegate.findings import Finding, GateResult, Location, Severity
from edgegate.model.bias_io import read_columns

GATE = "model-bias"
GROUP_SEPARATOR = " & "
_MAX_PREDICTION_VALUES = 10_000

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
    group: str | tuple[str, ...]
    """One sensitive-attribute column, or several: their intersections are the groups."""
    prediction: str | None = None
    score: str | None = None
    threshold: float | None = None
    privileged: str | None = None
    positive_label: str | None = None
    """Label value that means positive (default: 1/true/yes)."""
    positive_values: frozenset[str] | None = None
    """Prediction values that mean positive, for categorical predictions (e.g. Medium, High)."""
    favourable_label: str | None = None
    """The prediction value that is the favourable outcome (1/0, or a categorical value); None
    judges disparate impact for both outcomes."""
    min_group_size: int = 1
    """Groups with fewer rows are reported, not judged."""

    @property
    def group_columns(self) -> tuple[str, ...]:
        return (self.group,) if isinstance(self.group, str) else tuple(self.group)

    def validate(self) -> None:
        if not self.group_columns:
            raise InputError("give at least one --group column")
        if len(set(self.group_columns)) != len(self.group_columns):
            raise InputError("a --group column is named twice")
        if self.min_group_size < 1:
            raise InputError("--min-group-size must be at least 1")
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
    prediction_values: set[str] = field(default_factory=set)
    """Raw prediction values seen (categorical predictions; bounded)."""

    def judged(self, min_size: int) -> dict[str, GroupStats]:
        return {k: g for k, g in self.groups.items() if g.count >= min_size}


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
    """Confusion counts per group. `rows` hold [label, prediction-or-score, *group columns]."""
    groups: dict[str, GroupStats] = {}
    overall = GroupStats("(all)")
    n = 0
    label_values: set[str] = set()
    pred_values: set[str] = set()
    pred_col = spec.prediction or spec.score or ""
    columns = spec.group_columns
    for i, (label_raw, pred_raw, *group_raw) in enumerate(rows):
        row = i + 2  # 1-based, after the header
        label = _binary(label_raw, spec.positive_label, "label", spec.label, path, row)
        if len(label_values) <= 2:
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
            if len(pred_values) < _MAX_PREDICTION_VALUES:
                pred_values.add(pred_raw.strip())
        else:
            pred = _binary(pred_raw, None, "prediction", pred_col, path, row)
        parts = [v.strip() for v in group_raw]
        for col, v in zip(columns, parts, strict=True):
            if v.lower() in _MISSING:
                raise InputError(f"missing group in column {col!r}", path, row)
        group = GROUP_SEPARATOR.join(parts)
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
    where = " × ".join(repr(c) for c in columns)
    if n == 0:
        raise InputError("no data rows", path)
    if spec.positive_label is not None and len(label_values) > 2:
        shown = ", ".join(sorted(label_values)[:6])
        raise InputError(f"label column {spec.label!r} has more than 2 values ({shown}, …); expected 2", path)
    if spec.privileged is not None and spec.privileged not in groups:
        shown = ", ".join(sorted(groups)[:20])
        raise InputError(f"privileged group {spec.privileged!r} not found in {where} (groups: {shown})", path)
    if len(groups) < 2:
        raise InputError(f"{where} has only one group; fairness needs at least two", path)
    return BiasReport(groups=groups, overall=overall, rows=n, prediction_values=pred_values)


def favourable_is_positive(spec: BiasSpec, report: BiasReport) -> bool | None:
    """True/False: the positive/negative prediction is the favourable outcome; None: not named."""
    if spec.favourable_label is None:
        return None
    v = spec.favourable_label.strip()
    if spec.positive_values is not None:
        if v in spec.positive_values:
            return True
        if v in report.prediction_values:
            return False
        shown = ", ".join(sorted(report.prediction_values)[:20])
        raise InputError(f"--favourable-label {v!r} is not a value of the prediction column (values: {shown})")
    if v.lower() in _TRUE:
        return True
    if v.lower() in _FALSE:
        return False
    raise InputError(f"--favourable-label {v!r}: the predictions are binary; name 1 or 0 (true/false)")


def _values(groups: Mapping[str, GroupStats], metric: str, needed: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, g in groups.items():
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


def disparate_impact(sel: Mapping[str, float], privileged: str | None,
                     favourable: bool | None) -> tuple[float | None, tuple[str, str] | None, str]:
    """The lowest ratio of a group's outcome rate to the reference group's (the privileged
    group, else the best-off one), the (group, reference) pair and the outcome judged.

    With the favourable outcome named this is the classic one-sided ratio for that outcome.
    Unnamed, both outcomes are judged in both directions (a ratio r counts as min(r, 1/r), as
    Aequitas's [0.8, 1.25] band does): a group that gets a harmful positive prediction more often
    than the reference cannot pass with a ratio above 1."""
    outcomes = {"positive": True, "negative": False}
    judged = [o for o, pos in outcomes.items() if favourable is None or pos is favourable]
    best: tuple[float | None, tuple[str, str] | None, str] = (None, None, judged[0])
    for outcome in judged:
        rates = {k: (v if outcomes[outcome] else 1.0 - v) for k, v in sel.items()}
        ref = privileged if privileged is not None else max(rates, key=lambda k: rates[k])
        for group, rate in rates.items():
            if group == ref:
                continue
            if rates[ref] > 0:
                ratio = rate / rates[ref]
                if favourable is None and ratio > 1:
                    ratio = 1 / ratio
            elif favourable is None and rate > 0:
                ratio = 0.0  # the reference never gets this outcome, the group does
            else:
                continue
            if best[0] is None or ratio < best[0]:
                best = (ratio, (group, ref), outcome)
    return best


def _cell(g: GroupStats, metric: str) -> str:
    v = g.rate(metric)
    if v is None:
        return "undefined (" + {"tpr": "no positives", "fnr": "no positives", "fpr": "no negatives",
                                "precision": "no positive predictions"}.get(metric, "no rows") + ")"
    return f"{v:.4f}"


def _group_table(report: BiasReport, spec: BiasSpec, judged: Mapping[str, GroupStats]) -> dict[str, Any]:
    ordered = [*sorted(report.groups.values(), key=lambda g: (-g.count, g.group)), report.overall]
    width = len(str(report.overall.count))
    columns = ["group", "count", "base rate", "selection rate", "TPR", "FPR", "FNR", "precision"]
    small = spec.min_group_size > 1
    if small:
        columns.append("judged")
    rows = []
    for g in ordered:
        row: list[Any] = [g.group, str(g.count).rjust(width), *(_cell(g, m) for m in METRICS)]
        if small:
            row.append("" if g is report.overall else "yes" if g.group in judged else
                       f"no (n < {spec.min_group_size})")
        rows.append(row)
    title = " × ".join(spec.group_columns)
    return {"title": f"fairness by {title}", "columns": columns, "rows": rows}


def evaluate(report: BiasReport, spec: BiasSpec, thresholds: Thresholds, shown: str) -> GateResult:
    """Metrics over the judged groups, threshold checks and the per-group table."""
    t = thresholds
    judged = report.judged(spec.min_group_size)
    priv = spec.privileged
    if len(judged) < 2:
        raise InputError(f"only {len(judged)} group(s) have at least {spec.min_group_size} rows "
                         f"(--min-group-size); fairness needs at least two", shown)
    if priv is not None and priv not in judged:
        raise InputError(f"privileged group {priv!r} has {report.groups[priv].count} rows, fewer than "
                         f"--min-group-size {spec.min_group_size}", shown)
    sel = _values(judged, "selection_rate", True)
    tpr = _values(judged, "tpr", t.max_equalized_odds_difference is not None)
    fpr = _values(judged, "fpr", t.max_equalized_odds_difference is not None or t.max_fpr_gap is not None)
    fnr = _values(judged, "fnr", t.max_fnr_gap is not None)
    metrics: dict[str, float | None] = {}
    dp_diff = max(sel.values()) - min(sel.values())
    metrics["demographic_parity_difference"] = dp_diff
    metrics["demographic_parity_ratio"] = (min(sel.values()) / max(sel.values())) if max(sel.values()) > 0 else None
    complete = len(tpr) == len(judged) and len(fpr) == len(judged)
    metrics["equalized_odds_difference"] = (
        max(max(tpr.values()) - min(tpr.values()), max(fpr.values()) - min(fpr.values())) if complete else None
    )
    findings: list[Finding] = []
    checks: list[list[Any]] = []

    def check(metric: str, value: float | None, limit: float | None, upper: bool, rule: str, what: str,
              pair: tuple[str, str] | None, note: str = "") -> None:
        if limit is None:
            return
        if value is None or not math.isfinite(value):
            raise InputError(f"{what} is undefined for this data; the limit on it cannot be checked", shown)
        ok = value <= limit if upper else value >= limit
        checks.append([metric, f"{value:.4f}", ("≤ " if upper else "≥ ") + (f"{limit:.2f}" if round(limit, 2) == limit else f"{limit:g}"), "pass" if ok else "FAIL"])
        if not ok:
            between = f" (between {pair[0]!r} and {pair[1]!r})" if pair else ""
            findings.append(
                Finding(
                    gate=GATE,
                    rule_id=rule,
                    severity=Severity.HIGH,
                    message=f"{what} is {value:.4f}{between}{note}; the limit is "
                            f"{'at most' if upper else 'at least'} {limit}",
                    location=Location(path=shown),
                    title=what,
                    details={"metric": metric, "value": value, "limit": limit, "groups": list(pair or ())},
                )
            )

    for rates, key, rule, what in ((fpr, "fpr_gap", "EGB001", "False positive rate gap"),
                                   (fnr, "fnr_gap", "EGB002", "False negative rate gap")):
        limit = t.max_fpr_gap if key == "fpr_gap" else t.max_fnr_gap
        if rates:
            v, a, b = _gap(rates, priv if priv in rates else None)
            metrics[key] = v
            check(key, v, limit, True, rule, what, (a, b))
        else:
            check(key, None, limit, True, rule, what, None)
    favourable = favourable_is_positive(spec, report)
    di, di_pair, outcome = disparate_impact(sel, priv, favourable)
    metrics["disparate_impact"] = di
    note = f" for the {outcome} outcome" + ("" if favourable is not None else " (both outcomes judged)")
    check("disparate_impact", di, t.min_disparate_impact, False, "EGB003", "Disparate impact ratio", di_pair, note)
    check("demographic_parity_difference", dp_diff, t.max_demographic_parity_difference, True, "EGB004",
          "Demographic parity difference", None)
    check("demographic_parity_ratio", metrics["demographic_parity_ratio"], t.min_demographic_parity_ratio, False,
          "EGB005", "Demographic parity ratio", None)
    check("equalized_odds_difference", metrics["equalized_odds_difference"], t.max_equalized_odds_difference, True,
          "EGB006", "Equalized odds difference", None)

    def fmt(v: float | None) -> float | None:
        return None if v is None else round(v, 4)

    stats: dict[str, Any] = {
        "rows": report.rows,
        "groups": len(report.groups),
        "group_columns": list(spec.group_columns),
        "judged_groups": sorted(judged),
        "small_groups": sorted(k for k in report.groups if k not in judged),
        "min_group_size": spec.min_group_size,
        "disparate_impact_outcome": outcome if favourable is not None else f"both (worst: {outcome})",
        "metrics": {k: fmt(v) for k, v in metrics.items()},
        "per_group": {
            g.group: {"count": g.count, **{m: g.rate(m) for m in METRICS}, "tp": g.tp, "fp": g.fp, "tn": g.tn,
                      "fn": g.fn, "judged": g.group in judged}
            for g in report.groups.values()
        },
        "overall": {"count": report.overall.count, **{m: report.overall.rate(m) for m in METRICS}},
        "tables": [
            _group_table(report, spec, judged),
            {"title": "fairness limits", "columns": ["metric", "value", "limit", "result"], "rows": checks},
        ],
    }
    return GateResult.decide(GATE, findings, stats=stats)


def run_bias(path: str | Path, spec: BiasSpec, thresholds: Thresholds | None = None) -> GateResult:
    """Read the predictions file, compute the metrics and decide."""
    spec.validate()
    started = time.perf_counter()
    p = Path(path)
    cols = [spec.label, spec.prediction or spec.score or "", *spec.group_columns]
    rows, fmt = read_columns(p, cols)
    report = compute(rows, spec, p)
    result = evaluate(report, spec, thresholds or Thresholds(), str(path))
    result.stats["format"] = fmt
    result.stats["seconds"] = round(time.perf_counter() - started, 3)
    return result
