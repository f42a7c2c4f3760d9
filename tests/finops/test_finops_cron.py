"""CronJob schedules read as Kubernetes reads them: robfig/cron v3 ``ParseStandard``.

The table was produced by that Go library (tests/finops/data/robfig_cron: runs in 2023, or its
error); `test_against_robfig_cron` runs the library itself on the same table when Go and the
module are available offline (the Go module cache), so a drift on either side shows."""

from __future__ import annotations

import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from edgegate.finops.cron import CronError, runs_per_month

PEER = Path(__file__).parent / "data" / "robfig_cron"

#: schedule -> runs in 2023 per robfig/cron v3.0.1, or None where it refuses the schedule
CASES: dict[str, int | None] = {
    "0 3 ? * MON-FRI": 260,  # '?' is '*' (the valid schedule)
    "0 3 * * 7": None,  # day of week is 0-6: 7 is out of range, not Sunday
    "0 3 * * 0": 53,
    "@HOURLY": None,  # descriptors are case-sensitive
    "@hourly": 8760,
    "@every 1h30m": 5840,
    "@every 90s": 350400,
    "@every 1.5h": 5840,
    "@every 1x": None,
    "*/2 * 1 * MON": 45360,  # */2 restricts: either day field counts
    "*/1 * 1 * MON": 90720,
    "0 0 1 * */2": 215,
    "0 0 1,,2 * *": 24,  # empty list items are skipped
    "0 0 * * mon": 52,
    "0 0 * * Mon-fri": 260,
    "0 0 L * *": None,
    "0 0 * * 1#2": None,
    "*-5 * * * *": 525600,  # the Go parser reads "*-5" as "*"
    "1-2-3 * * * *": None,
    "5/15 * * * *": 35040,  # a/step is a-max/step
    "*/0 * * * *": None,
    "0 0 ? ? ?": 365,
    "0 0 5,? * 1": 52,  # a '?' item makes the field "every day": both must match
    "0 0 * jan-mar *": 90,
    "0 0 * JAN,dec *": 62,
    "TZ=UTC 0 0 * * *": 365,
    "CRON_TZ=Europe/Berlin 0 12 * * *": 365,
    "0 0 * * * *": None,  # no seconds field
    "0 0 1-31/10 * *": 43,
    "+5 * * * *": 8760,
    "05 * * * *": 8760,
    "@reboot": None,
    " 0 0 * * *": 365,
    "0 0 31 2 *": 0,
}


@pytest.mark.parametrize(("schedule", "runs"), list(CASES.items()), ids=list(CASES))
def test_kubernetes_grammar(schedule: str, runs: int | None) -> None:
    if runs is None:
        with pytest.raises(CronError):
            runs_per_month(schedule)
    else:
        assert runs_per_month(schedule) == Decimal(runs) / 12


def test_every_below_a_second_is_every_second() -> None:
    # robfig: Every(d) with d < 1s is 1s; whole seconds only
    per_second = Decimal(365 * 24 * 3600) / 12
    assert runs_per_month("@every 500ms") == per_second
    assert runs_per_month("@every 0") == per_second
    assert runs_per_month("@every 1500ms") == per_second


def _peer_binary(tmp_path: Path) -> Path:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None)
    if go is None:
        pytest.skip("Go is not installed")
    src = tmp_path / "src"
    shutil.copytree(PEER, src)
    out = tmp_path / "robfigcron"
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOWORK": "off",
           "GOCACHE": os.environ.get("GOCACHE", str(tmp_path / "gocache"))}
    proc = subprocess.run([go, "build", "-o", str(out), "."], cwd=src, env=env, capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        why = f"robfig/cron v3 is not in the Go module cache: {proc.stderr.strip()[:200]}"
        if os.environ.get("EDGEGATE_TEST_REQUIRE_ORACLES") == "1":
            pytest.fail(why + " (.ci/run downloads it)")
        pytest.skip(why)
    return out


@pytest.mark.slow
def test_against_robfig_cron(tmp_path: Path) -> None:
    binary = _peer_binary(tmp_path)
    schedules = list(CASES)
    proc = subprocess.run([str(binary)], input="\n".join(schedules) + "\n", capture_output=True, text=True,
                          timeout=300, check=True)
    answers = proc.stdout.splitlines()
    assert len(answers) == len(schedules)
    for schedule, answer in zip(schedules, answers, strict=True):
        kind, _, value = answer.partition(" ")
        peer = int(value) if kind == "ok" else None
        assert peer == CASES[schedule], (schedule, answer)
