"""How often a CronJob runs: runs per month from its schedule, read exactly as Kubernetes reads it.

Kubernetes parses ``spec.schedule`` with robfig/cron v3's ``ParseStandard`` (five fields plus
descriptors); this module follows that parser's grammar, quirks included, and is tested against
it (tests/finops/test_finops_cron.py runs the Go library itself when Go is there):

- fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12 or ``jan``-``dec``, day of week
  0-6 or ``sun``-``sat`` (names in any case; ``7`` is *not* Sunday: it is out of range);
- ``*`` and ``?`` mean every value; ``a-b``, ``a/step`` (= ``a-max/step``), ``a-b/step``, ``*/step``;
  lists with ``,`` (empty list items are skipped, like the Go parser);
- when the day-of-month or day-of-week field is "every value" (``*`` or ``?``, or a ``*/1``), a
  day must match both; when both are restricted (``*/2`` counts as restricted) a day matching
  either one counts;
- descriptors, case-sensitive: ``@yearly`` ``@annually`` ``@monthly`` ``@weekly`` ``@daily``
  ``@midnight`` ``@hourly`` and ``@every DURATION`` (Go duration syntax, at least one second,
  whole seconds);
- an optional ``TZ=zone`` / ``CRON_TZ=zone`` prefix (Kubernetes now wants ``spec.timeZone``
  instead; the zone does not change the count here).

The count is exact for a reference non-leap year (365 days, which is also where 730 hours a month
comes from), divided by 12.
"""

from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal

__all__ = ["CronError", "runs_per_month"]

_DESCRIPTORS = {
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
_YEAR_SECONDS = 365 * 24 * 3600
_INT = re.compile(r"^[+-]?[0-9]+$")
_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]*)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": Decimal("1e-9"), "us": Decimal("1e-6"), "µs": Decimal("1e-6"), "μs": Decimal("1e-6"),
                 "ms": Decimal("1e-3"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600)}


class CronError(ValueError):
    """A schedule Kubernetes would refuse (bad syntax, or Quartz extensions like ``L``, ``W``, ``#``)."""


def _int(token: str) -> int:
    if not _INT.match(token):
        raise CronError(f"failed to parse int from {token!r}")
    n = int(token)
    if n < 0:
        raise CronError(f"negative number ({n}) not allowed: {token!r}")
    return n


def _int_or_name(token: str, names: dict[str, int]) -> int:
    named = names.get(token.lower())
    return named if named is not None else _int(token)


def _range(expr: str, low: int, high: int, names: dict[str, int]) -> tuple[set[int], bool]:
    """One comma item: its values and whether it is "every value" (robfig's star bit)."""
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single = len(low_and_high) == 1
    star = False
    if low_and_high[0] in ("*", "?"):
        start, end, star = low, high, True  # like the Go parser, "*-5" is "*"
    else:
        start = _int_or_name(low_and_high[0], names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _int_or_name(low_and_high[1], names)
        else:
            raise CronError(f"too many hyphens: {expr!r}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _int(range_and_step[1])
        if single:
            end = high
        if step > 1:
            star = False
    else:
        raise CronError(f"too many slashes: {expr!r}")
    if start < low:
        raise CronError(f"beginning of range ({start}) below minimum ({low}): {expr!r}")
    if end > high:
        raise CronError(f"end of range ({end}) above maximum ({high}): {expr!r}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr!r}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr!r}")
    return set(range(start, end + 1, step)), star


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> tuple[set[int], bool]:
    values: set[int] = set()
    star = False
    for item in (part for part in text.split(",") if part):
        got, item_star = _range(item, low, high, names or {})
        values |= got
        star = star or item_star
    return values, star


def _go_duration_seconds(text: str) -> Decimal:
    """Go's time.ParseDuration, in seconds (sign, decimals, unit sequences like ``1h30m``)."""
    s = text
    sign = Decimal(1)
    if s[:1] in ("+", "-"):
        sign = Decimal(-1) if s[0] == "-" else Decimal(1)
        s = s[1:]
    if s == "0":
        return Decimal(0)
    if not s:
        raise CronError(f"failed to parse duration {text!r}")
    total = Decimal(0)
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None or m.group(1) in ("", "."):
            raise CronError(f"failed to parse duration {text!r}")
        total += Decimal(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    return sign * total


def _every(duration: str) -> Decimal:
    seconds = _go_duration_seconds(duration)
    seconds = max(seconds, Decimal(1))  # robfig: at least a second, whole seconds
    whole = Decimal(int(seconds))
    return Decimal(_YEAR_SECONDS) / whole / 12


def runs_per_month(schedule: str) -> Decimal:
    """Average runs per month of a cron schedule (``"*/15 * * * *"`` → 2920)."""
    text = schedule
    if text.startswith(("TZ=", "CRON_TZ=")):
        parts = text.split(None, 1)
        text = parts[1] if len(parts) > 1 else ""
    if not text.split():
        raise CronError("empty spec string")
    if text.startswith("@"):
        if text.startswith("@every "):
            return _every(text[len("@every "):])
        if text not in _DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {text!r}")
        text = _DESCRIPTORS[text]
    fields = text.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: {schedule!r}")
    minute, hour, dom, month, dow = fields
    minutes, _ = _field(minute, 0, 59)
    hours, _ = _field(hour, 0, 23)
    days, dom_star = _field(dom, 1, 31)
    months, _ = _field(month, 1, 12, _MONTHS)
    weekdays, dow_star = _field(dow, 0, 6, _DAYS)
    matching = 0
    day = _dt.date(_REFERENCE_YEAR, 1, 1)
    while day.year == _REFERENCE_YEAR:
        if day.month in months:
            in_dom = day.day in days
            in_dow = (day.isoweekday() % 7) in weekdays
            if (in_dom and in_dow) if (dom_star or dow_star) else (in_dom or in_dow):
                matching += 1
        day += _dt.timedelta(days=1)
    return Decimal(matching * len(minutes) * len(hours)) / 12
