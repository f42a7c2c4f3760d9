"""How often a CronJob runs: runs per month from a standard five-field cron schedule.

The count is exact for a reference non-leap year (365 days, which is also where 730 hours a month
comes from): every day of 2023 is matched against the day-of-month, month and day-of-week fields
(with cron's rule that when both day fields are restricted a day matching either one counts), and
the matching days times the runs per day is divided by 12.
"""

from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal

__all__ = ["CronError", "runs_per_month"]

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_REFERENCE_YEAR = 2023
_PART = re.compile(r"^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?$")


class CronError(ValueError):
    """A schedule this module cannot read (bad syntax, or Quartz extensions like ``L``, ``W``, ``#``)."""


def _value(token: str, names: dict[str, int], low: int, high: int) -> int:
    if token in names:
        return names[token]
    if not token.isdigit():
        raise CronError(f"unknown value {token!r}")
    n = int(token)
    if not low <= n <= high:
        raise CronError(f"{n} is outside {low}-{high}")
    return n


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    names = names or {}
    out: set[int] = set()
    for part in text.lower().split(","):
        m = _PART.match(part)
        if m is None:
            raise CronError(f"cannot read {part!r}")
        span, step_text = m.groups()
        step = int(step_text) if step_text else 1
        if step < 1:
            raise CronError("a step must be at least 1")
        if span == "*":
            start, end = low, high
        elif "-" in span:
            a, b = span.split("-", 1)
            start, end = _value(a, names, low, high), _value(b, names, low, high)
            if end < start:
                raise CronError(f"range {span!r} runs backwards")
        else:
            start = _value(span, names, low, high)
            end = high if step_text else start
        out.update(range(start, end + 1, step))
    return out


def runs_per_month(schedule: str) -> Decimal:
    """Average runs per month of a cron schedule (``"*/15 * * * *"`` → 2920)."""
    text = schedule.strip()
    if text.split(maxsplit=1)[:1] and text.split(maxsplit=1)[0].startswith(("CRON_TZ=", "TZ=")):
        text = text.split(maxsplit=1)[1] if len(text.split(maxsplit=1)) > 1 else ""
    text = _MACROS.get(text.lower(), text)
    if text.startswith("@"):
        raise CronError(f"unsupported macro {text!r}")
    fields = text.split()
    if len(fields) != 5:
        raise CronError(f"expected 5 fields, got {len(fields)}")
    minute, hour, dom, month, dow = fields
    minutes = _field(minute, 0, 59)
    hours = _field(hour, 0, 23)
    days = _field(dom, 1, 31)
    months = _field(month, 1, 12, _MONTHS)
    weekdays = {d % 7 for d in _field(dow, 0, 7, _DAYS)}
    dom_any, dow_any = dom.startswith("*"), dow.startswith("*")
    matching = 0
    day = _dt.date(_REFERENCE_YEAR, 1, 1)
    while day.year == _REFERENCE_YEAR:
        if day.month in months:
            in_dom = day.day in days
            in_dow = (day.isoweekday() % 7) in weekdays
            if (in_dom and in_dow) if (dom_any or dow_any) else (in_dom or in_dow):
                matching += 1
        day += _dt.timedelta(days=1)
    return Decimal(matching * len(minutes) * len(hours)) / 12
