"""The text reporter's plain path (no colour: files, pipes, CI logs) against rich, its peer: the
report made without rich must be the bytes rich prints for the same lines (trailing spaces
removed), on the sample reports and on random hostile ones; and `wrap`'s ASCII fast path must
break lines exactly as the cell-measuring path does.

Budget: ``EDGEGATE_FUZZ_EXAMPLES`` (the hypothesis profile ``edgegate-fuzz``).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from report_samples import all_results, passing_results

from edgegate.findings import Finding, GateResult, Location, Severity, Status
from edgegate.report import ReportContext, _layout, _lines, render, text

FUZZ = settings(settings.get_profile("edgegate-fuzz"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# pieces that exercise every branch of the layout: spaces, break points, long tokens, wide and
# zero-width characters, controls, workflow-command look-alikes, rich markup
_PIECES = ["a", "bb", " ", "  ", "/", "-", "::", "##[", "\t", "\n", "\r", "\x1b[31m", "é", "顔", "✓",
           "\u200d", "👩\u200d💻", "\ufe0f", "…", "\x7f", "\x85", "\u2028", "\u202e", "[red]x[/red]",
           "x" * 30, "a/b/c/d/e/f/" * 6, "long-hyphen-token-" * 3, "\x00", "\x0b"]
_text = st.lists(st.sampled_from(_PIECES), max_size=14).map("".join)
_finding = st.builds(
    Finding,
    st.sampled_from(["policy", "vuln", "::g"]),
    _text.filter(bool),
    st.sampled_from(list(Severity)),
    _text,
    st.builds(Location, st.one_of(st.none(), _text.filter(bool), st.just("k8s/a.yaml")),
              st.one_of(st.none(), st.integers(1, 10**6)), st.one_of(st.none(), st.integers(1, 99)),
              st.one_of(st.none(), _text)),
    blocking=st.booleans(),
)


@st.composite
def _reports(draw: st.DrawFn) -> list[GateResult]:
    findings = draw(st.lists(_finding, max_size=12))
    columns = draw(st.lists(_text.filter(bool), min_size=1, max_size=3, unique=True))
    rows = draw(st.lists(st.lists(_text, min_size=len(columns), max_size=len(columns)), max_size=3))
    stats = {"tables": [{"title": draw(_text), "columns": columns, "rows": rows}]}
    errors = draw(st.lists(_text, max_size=2))
    out = [GateResult.decide(draw(_text.filter(bool)), findings, stats=stats)]
    if errors:
        out.append(GateResult("broken", Status.ERROR, errors=errors))
    return out


def _through_rich(results: list[GateResult], ctx: ReportContext, width: int) -> str:
    console = _lines.make_console(io.StringIO(), color=False, width=width)
    printed = "".join(text._rich_batches(results, ctx, console))
    return "".join(line.rstrip() + "\n" for line in printed.splitlines())


def _plain(results: list[GateResult], ctx: ReportContext, width: int) -> str:
    return "".join(text._plain_batches(results, ctx, width))


@pytest.mark.parametrize("width", [20, 33, 80, text.FILE_WIDTH])
@pytest.mark.parametrize("sample", [all_results, passing_results, list])
def test_plain_report_is_what_rich_prints(sample: object, width: int) -> None:
    results = sample()  # type: ignore[operator]
    for command in ("edgegate check", "  ::stop-commands:: ##[x"):
        ctx = ReportContext(command=command, root=Path.cwd())
        assert _plain(results, ctx, width) == _through_rich(results, ctx, width)
    assert render("text", results, ctx) == _plain(results, ctx, text.FILE_WIDTH)


@pytest.mark.fuzz
@FUZZ
@given(_reports(), st.integers(1, 130), _text)
def test_plain_report_is_what_rich_prints_on_hostile_reports(results: list[GateResult], width: int, command: str) -> None:
    ctx = ReportContext(command=command, root=Path.cwd())
    assert _plain(results, ctx, width) == _through_rich(results, ctx, width)


def test_plain_lines_that_rich_would_change_go_through_rich() -> None:
    # wide characters over the width are cropped by cells, a tab is expanded: rich's rules
    results = [GateResult.decide("g", [Finding("g", "R", Severity.HIGH, "顔" * 80 + " x", Location("a.yaml", 1))])]
    ctx = ReportContext(command="c\u200d" * 30, root=Path.cwd())
    plain = _plain(results, ctx, 24)
    assert plain == _through_rich(results, ctx, 24)
    assert all(_layout.cell_len(line) <= 24 for line in plain.splitlines())


@pytest.mark.fuzz
@FUZZ
@given(st.lists(st.sampled_from(["a", "bb", " ", "  ", "/", "-", "x" * 25, "a/b/", "\t", "long-token-with-hyphens-abc",
                                 "/usr/lib/python3/dist-packages/", "##[", "::"]), max_size=16).map("".join),
       st.integers(-2, 60))
def test_ascii_wrap_breaks_as_the_cell_measuring_wrap(value: str, width: int) -> None:
    assert _layout.wrap(value, width) == _layout._wrap_cells(value, max(width, 1))
