from __future__ import annotations

from decimal import Decimal

import pytest

from edgegate.finops.cron import CronError, runs_per_month
from edgegate.finops.quantities import (
    QuantityError,
    format_cpu,
    format_memory,
    parse_cpu,
    parse_gpu,
    parse_memory,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100m", Decimal("0.1")),
        ("1.5", Decimal("1.5")),
        ("512Mi", Decimal(536870912)),
        ("1G", Decimal(1000000000)),
        ("1Ki", Decimal(1024)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("2.5e-3", Decimal("0.0025")),
        ("1E", Decimal(10) ** 18),  # exa, not an exponent
        ("250u", Decimal("0.00025")),
        (".5", Decimal("0.5")),
        ("2.", Decimal(2)),
        ("1.5Gi", Decimal(1610612736)),
        (2, Decimal(2)),
        (0.25, Decimal("0.25")),
        (" 3k ", Decimal(3000)),
    ],
)
def test_parse_quantity_exact(text: object, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(
    "text",
    ["2e3m", "1Gib", "1 Gi", "abc", "", "1.2.3", "--1", "1e", "Mi", "0x10", True, None, [1], "1" * 80],
)
def test_invalid_quantities_are_refused(text: object) -> None:
    # 2e3m: a quantity has one suffix; Kubernetes refuses an exponent followed by an SI suffix
    with pytest.raises(QuantityError):
        parse_quantity(text)


def test_resource_specific_rules() -> None:
    assert parse_cpu("500m") == Decimal("0.5")
    assert parse_memory("1Gi") == Decimal(1073741824)
    with pytest.raises(QuantityError):
        parse_cpu("-1")
    assert parse_gpu("2") == 2
    with pytest.raises(QuantityError, match="whole number"):
        parse_gpu("500m")


def test_formatting_round_trips() -> None:
    assert format_cpu(Decimal("0.25")) == "250m"
    assert format_cpu(Decimal(2)) == "2"
    assert format_cpu(Decimal("0.2301")) == "231m"  # rounded up to the millicore
    assert format_memory(Decimal(1024**3)) == "1Gi"
    assert format_memory(Decimal(300 * 1024**2 + 1)) == "301Mi"
    for text in ("250m", "2", "1500m"):
        assert format_cpu(parse_cpu(text)) == text


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("@hourly", Decimal(730)),  # 8760 h / 12
        ("*/15 * * * *", Decimal(2920)),
        ("0 0 1 * *", Decimal(1)),
        ("@yearly", Decimal(1) / 12),
        ("0 0 29 2 *", Decimal(0)),  # the reference year is not a leap year
        ("0 2 * * 1-5", Decimal(260) / 12),  # 2023 has 260 weekdays
        ("0 9,17 * * mon-fri", Decimal(520) / 12),
        ("CRON_TZ=UTC 0 0 * * *", Decimal(365) / 12),
        ("0 0 1,15 * mon", Decimal(24 + 52 - 2) / 12),  # either day field; 2 Mondays are a 1st/15th
    ],
)
def test_runs_per_month(schedule: str, expected: Decimal) -> None:
    assert runs_per_month(schedule) == expected


@pytest.mark.parametrize("schedule", ["* * * *", "0 0 L * *", "61 * * * *", "0 0 * * 1#2", "@reboot", "5-1 * * * *"])
def test_unreadable_schedules(schedule: str) -> None:
    with pytest.raises(CronError):
        runs_per_month(schedule)
