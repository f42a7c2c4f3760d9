"""The whole picklescan corpus (../shared/data/model-scan/picklescan): every malicious file is
flagged dangerous, every benign file is not, and edgegate flags at least what picklescan flags."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgegate.findings import Status
from edgegate.model.scan import ScanOptions, scan_paths

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "model-scan" / "picklescan"
DANGER_RULES = {"EGM001", "EGM003", "EGM004", "EGM005", "EGM008"}

_MALICIOUS = re.compile(
    r"^(malicious.*|GHSA-.*|.*exploit.*|.*sploit.*|dns_exfiltration\.npy|cloudpickle_codeinjection\.pkl|"
    r"io_FileIO\.pkl|logging_FileHandler\.pkl|urllib_request_urlopen\.pkl|types_CodeType\.pkl|"
    r"pytorch_magic_bypass\.pt)$"
)
_BENIGN = re.compile(
    r"^(benign.*|int_array.*|object_array.*|pytorch_model\.bin|new_pytorch_model\.bin|"
    r"not_a_pickle\.bin|bad_pytorch\.pt)$"
)
#: Files that hold a dangerous import before the point where parsing fails.
_BROKEN = {"broken_model.pkl", "malicious-invalid-bytes.pkl"}


def _corpus() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name not in ("README.md", "LICENSE"))


FILES = _corpus()


def _verdict(name: str) -> str:
    if _MALICIOUS.match(name) or name in _BROKEN:
        return "malicious"
    if _BENIGN.match(name):
        return "benign"
    raise AssertionError(f"corpus file {name} has no verdict in its README rules")


def _dangerous(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.rule_id for f in result.findings if f.rule_id in DANGER_RULES and f.blocking]


def test_corpus_is_complete(shared_dir: Path) -> None:
    assert len(FILES) == 109
    assert sum(_verdict(p.name) == "malicious" for p in FILES) >= 90


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_corpus_file(path: Path, shared_dir: Path) -> None:
    if path.suffix == ".7z":
        pytest.importorskip("py7zr")
    result = scan_paths([path])
    verdict = _verdict(path.name)
    if verdict == "malicious":
        assert _dangerous(result), f"{path.name} not flagged: {result.findings} {result.errors}"
        assert result.status in (Status.FAILED, Status.ERROR)
    else:
        assert not _dangerous(result), f"{path.name} flagged: {[f.message for f in result.findings]}"
        assert result.status is not Status.FAILED


def test_benign_torch_and_numpy_pass_cleanly(shared_dir: Path) -> None:
    names = ["pytorch_model.bin", "new_pytorch_model.bin", "object_arrays.npz", "int_arrays_compressed.npz",
             "benign0_v4.pkl", "object_array.npy"]
    paths = [p for p in FILES if p.name in names]
    result = scan_paths(paths)
    assert result.status is Status.PASSED, (result.errors, result.findings)
    assert result.stats["pickles"] >= 6


def test_broken_files_report_import_and_parse_error(shared_dir: Path) -> None:
    broken = next(p for p in FILES if p.name == "broken_model.pkl")
    result = scan_paths([broken])
    assert result.status is Status.ERROR
    assert any("builtins.exec" in f.message for f in result.findings)
    assert any("parsing failed" in e for e in result.errors)


def test_not_a_pickle_is_an_error_not_a_pass(shared_dir: Path) -> None:
    for name in ("not_a_pickle.bin", "bad_pytorch.pt"):
        result = scan_paths([next(p for p in FILES if p.name == name)])
        assert result.status is Status.ERROR
        assert not _dangerous(result)


def test_password_protected_zip_says_what_was_not_read(shared_dir: Path) -> None:
    result = scan_paths([next(p for p in FILES if p.name == "benign_password_protected.zip")])
    assert result.status is Status.ERROR
    assert any("encrypted" in e and "test.txt" in e for e in result.errors)


def test_zip_tricks_are_reported_as_anomalies(shared_dir: Path) -> None:
    for name, text in [("malicious1_0x1.zip", "flag bits"), ("malicious1_central_directory.zip", "local header"),
                       ("malicious1_crc.zip", "CRC")]:
        result = scan_paths([next(p for p in FILES if p.name == name)])
        assert _dangerous(result)
        assert any(f.rule_id == "EGM011" and text in f.message for f in result.findings), name


def test_memo_resolved_stack_global(shared_dir: Path) -> None:
    # malicious13b: STACK_GLOBAL whose strings come through MEMOIZE/BINGET
    result = scan_paths([next(p for p in FILES if p.name == "malicious13b.pkl")])
    assert any(f.details.get("module") == "_pickle" and f.details.get("name") == "loads" for f in result.findings)


def test_sys_module_override_sploit_is_dangerous(shared_dir: Path) -> None:
    # it BUILDs state onto the imported torch._utils module itself: a rewrite of the module
    path = next(p for p in FILES if p.name == "sys_module_override_sploit.pkl")
    result = scan_paths([path])
    assert result.status is Status.FAILED
    assert any(f.rule_id == "EGM001" and f.blocking and f.details.get("patched") for f in result.findings)


def test_strict_turns_unknown_imports_into_failures(tmp_path: Path) -> None:
    path = tmp_path / "m.pkl"
    path.write_bytes(b"\x80\x04\x8c\x0bmypkg.model\x8c\x05Model\x93)\x81}b.")  # Model.__new__ + state
    relaxed = scan_paths([path])
    unknown = [f for f in relaxed.findings if f.rule_id == "EGM002"]
    assert unknown and not any(f.blocking for f in unknown)
    strict = scan_paths([path], ScanOptions(strict=True))
    assert all(f.blocking for f in strict.findings if f.rule_id == "EGM002")


def test_edgegate_flags_everything_picklescan_flags(shared_dir: Path) -> None:
    scanner = pytest.importorskip("picklescan.scanner")
    pytest.importorskip("py7zr")  # both scanners read the corpus's 7z file with it
    flagged_by_picklescan = []
    for path in FILES:
        res = scanner.scan_file_path(str(path))
        if res.infected_files > 0 or res.issues_count > 0:
            flagged_by_picklescan.append(path)
    assert len(flagged_by_picklescan) >= 90
    missed = [p.name for p in flagged_by_picklescan if not _dangerous(scan_paths([p]))]
    assert missed == []
    ours = [p for p in FILES if _dangerous(scan_paths([p]))]
    assert len(ours) >= len(flagged_by_picklescan)


def test_corpus_folder_scan(shared_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    # data2 holds malformed pickles (keyerror-exploit): the folder is an error, never a pass
    res = cli("model", "scan", str(CORPUS / "data2"), "-f", "json")
    assert res.exit_code == 2
    assert "Traceback" not in res.stderr
    assert '"EGM001"' in res.stdout


def test_streaming_reader_gives_the_same_verdicts(shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Streams over the in-memory limit go through the bounded reader: same results."""
    from edgegate.model.scan import pickle as scan_pickle

    expected = {p: (scan_paths([p]).status, sorted(f.rule_id for f in scan_paths([p]).findings)) for p in FILES}
    monkeypatch.setattr(scan_pickle, "IN_MEMORY_BYTES", 0)
    for p in FILES:
        res = scan_paths([p])
        assert (res.status, sorted(f.rule_id for f in res.findings)) == expected[p], p.name
