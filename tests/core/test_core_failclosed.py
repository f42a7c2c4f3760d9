"""Issue 15, cross-cutting: inputs opened by one helper, outputs that never clobber devices,
FIFOs or symlinks, paths that stay inside the project, and one "nothing to check" rule.

Device nodes are made with ``mknod`` in the test's own folder (never the real /dev entries).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import sys
import threading
from pathlib import Path

import pytest

from edgegate.errors import NOTHING_TO_CHECK, ConfigError, InputError
from edgegate.io import load_documents, read_bounded
from edgegate.io import output as output_mod
from edgegate.io.files import open_input
from edgegate.io.output import write_output
from edgegate.io.parse import loads_json, loads_toml
from edgegate.io.paths import check_distinct_outputs, excerpt

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "edge-app"
needs_root = pytest.mark.skipif(not hasattr(os, "mknod") or os.geteuid() != 0, reason="mknod needs root")


def _chardev(path: Path, minor: int) -> Path:
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))  # 3: null, 5: zero, 7: full
    return path


# --- inputs -------------------------------------------------------------------------------------


@needs_root
@pytest.mark.parametrize("kind", ["fifo", "null", "zero"])
def test_special_inputs_are_not_regular_files(tmp_path: Path, kind: str) -> None:
    p = tmp_path / f"in-{kind}.yaml"
    if kind == "fifo":
        os.mkfifo(p)
    else:
        _chardev(p, 3 if kind == "null" else 5)
    with pytest.raises(InputError, match="not a regular file") as info:
        read_bounded(p)  # returns at once: a FIFO without a writer must not block
    assert info.value.path == str(p)
    with pytest.raises(InputError, match="not a regular file"):
        load_documents(p)


def test_missing_and_directory_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_bounded(tmp_path / "absent")
    with pytest.raises(InputError, match="is a directory"):
        read_bounded(tmp_path)


def test_stdin_only_when_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "stdin.txt"
    src.write_bytes(b"from stdin\n")
    with src.open("rb") as fh:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(fh))
        with open_input("-", allow_stdin=True) as got:
            assert got.read() == b"from stdin\n"
    with pytest.raises(InputError, match="no such file"):
        read_bounded("-")  # not allowed: a file named "-"


@pytest.mark.parametrize(
    ("text", "loader"),
    [
        ("[" * 10_000 + "]" * 10_000, loads_json),
        ('{"a": ' + "1" * 100_000 + "}", loads_json),
        ("a = " + "[" * 10_000 + "]" * 10_000, loads_toml),
        ("a = " + "1" * 100_000, loads_toml),
    ],
)
def test_deep_and_huge_numbers_are_input_errors(text: str, loader: object) -> None:
    with pytest.raises(InputError) as info:
        loader(text, "f")  # type: ignore[operator]
    assert info.value.path == "f"


@pytest.mark.parametrize("text", ["a: " + "1" * 100_000 + "\n", "a: 2024-13-45\n"])
def test_yaml_values_that_cannot_be_built_name_the_line(tmp_path: Path, text: str) -> None:
    from edgegate.io.documents import load_yaml_text

    with pytest.raises(InputError) as info:  # PyYAML's reading (OSV records): an int, a date
        load_yaml_text("ok: 1\n" + text, "v.yaml")
    assert info.value.line == 2
    assert "1" * 100 not in str(info.value)  # the value is quoted short
    # as kubectl reads manifests (go-yaml v2): neither fits a number or a date, so both are text
    f = tmp_path / "v.yaml"
    f.write_text("ok: 1\n" + text)
    assert load_documents(f)[0].data["a"] == text[3:-1]


def test_excerpt_is_short_and_printable() -> None:
    assert excerpt("root:x:0:0:root:/root:/bin/bash\x1b[31m" + "y" * 100) .startswith("root:x:0:0:")
    assert len(excerpt("z" * 1000)) == 43
    assert "\x1b" not in excerpt("a\x1bb")


# --- outputs ------------------------------------------------------------------------------------


@needs_root
def test_output_to_a_char_device_writes_through(tmp_path: Path) -> None:
    null = _chardev(tmp_path / "null", 3)
    write_output(null, "report\n", "report")
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    assert os.listdir(tmp_path) == ["null"]  # no temp file left beside it


@needs_root
def test_output_to_a_full_device_is_an_error(tmp_path: Path) -> None:
    full = _chardev(tmp_path / "full", 7)
    with pytest.raises(InputError, match="cannot write report") as info:
        write_output(full, "x" * 10_000, "report")
    assert info.value.path == str(full)
    assert stat.S_ISCHR(os.lstat(full).st_mode)


def test_output_to_a_fifo_writes_through(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write_output(fifo, "through the pipe\n")
    reader.join(10)
    assert got == [b"through the pipe\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_output_to_a_fifo_without_reader_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output_mod, "_FIFO_WAIT_SECONDS", 0.2)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="no reader"):
        write_output(fifo, "x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_output_through_a_symlink_writes_its_target(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_output(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "nowhere" / "x.json")
    with pytest.raises(InputError, match="dangling"):
        write_output(dangling, "x")
    assert not (tmp_path / "nowhere").exists()


def test_two_outputs_naming_one_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="name the same file"):
        check_distinct_outputs([("a", tmp_path / "x"), ("b", tmp_path / "." / "x")])
    check_distinct_outputs([("a", tmp_path / "x"), ("b", tmp_path / "y"), ("c", None)])


@needs_root
def test_report_and_db_outputs_never_replace_devices(cli, tmp_path: Path) -> None:
    null = _chardev(tmp_path / "null", 3)
    full = _chardev(tmp_path / "full", 7)
    manifests = EXAMPLE / "manifests"
    r = cli("policy", "lint", "-p", "builtin:edge-ai", manifests, "-o", null)
    assert r.exit_code == 1  # the example fails the rule pack; the report went to the device
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    r = cli("policy", "lint", "-p", "builtin:edge-ai", manifests, "--format", f"json:{full}")
    assert r.exit_code == 2 and "cannot write report" in r.stderr
    r = cli("vuln", "db", "build", EXAMPLE / "vuln" / "osv", "--db", full)
    assert r.exit_code == 2
    r = cli("vuln", "db", "build", EXAMPLE / "vuln" / "osv", "--db", null)
    assert r.exit_code == 0
    assert stat.S_ISCHR(os.lstat(full).st_mode) and stat.S_ISCHR(os.lstat(null).st_mode)


def test_two_report_formats_to_one_file_are_refused(cli, tmp_path: Path) -> None:
    out = tmp_path / "r.out"
    r = cli("policy", "lint", "-p", "builtin:edge-ai", EXAMPLE / "manifests", "-f", f"json:{out}",
            "-f", f"sarif:{out}")
    assert r.exit_code == 2 and not out.exists()


def test_keygen_private_and_public_on_one_file(cli, tmp_path: Path) -> None:
    k = tmp_path / "k"
    r = cli("sign", "keygen", "--private", k, "--public", k, env={"EDGEGATE_KEY_PASSWORD": "pw"})
    assert r.exit_code == 2 and not k.exists()


# --- paths stay in the project -----------------------------------------------------------------


def test_requirements_include_outside_the_project_is_refused(cli, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOKEN=hunter2-very-secret\n")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / ".git").mkdir()
    (proj / "requirements.txt").write_text(f"-r {secret}\n")
    (proj / "rel.txt").write_text("-r ../secret.txt\n")
    for req in ("requirements.txt", "rel.txt"):
        r = cli("vuln", "scan", "--no-config", "--db", EXAMPLE / "vuln" / "osv", proj / req)
        assert r.exit_code == 2, r.stderr
        assert "outside the project" in r.stderr and "hunter2" not in r.stderr + r.stdout
        r = cli("sbom", "python", proj / req, "--sbom-output", tmp_path / "py.json")
        assert r.exit_code == 2, r.stderr
        assert "outside the project" in r.stderr and "hunter2" not in r.stderr + r.stdout


def test_invalid_requirement_is_quoted_short(cli, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("not a requirement at all: " + "x" * 200 + "\n")
    r = cli("vuln", "scan", "--no-config", "--db", EXAMPLE / "vuln" / "osv", tmp_path / "requirements.txt")
    assert r.exit_code == 2 and "x" * 50 not in r.stderr


def test_config_output_outside_the_project_is_refused(cli, tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    shutil.copytree(EXAMPLE / "sbom", proj / "sbom")
    (proj / "edgegate.toml").write_text(
        '[sbom]\npython = [{ path = "sbom/requirements.txt", output = "../escaped.cdx.json" }]\n'
    )
    r = cli("check", proj)
    assert r.exit_code == 2 and "outside the project" in r.stderr + r.stdout
    assert not (tmp_path / "escaped.cdx.json").exists()
    (proj / "edgegate.toml").write_text('[report]\nformats = ["json:/tmp/../' + str(tmp_path) + '/r.json"]\n'
                                        '[sbom]\npython = [{ path = "sbom/requirements.txt", output = "o.json" }]\n')
    r = cli("check", proj)
    assert r.exit_code == 2 and not (tmp_path / "r.json").exists()


def test_config_paths_resolve_inside_unless_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgegate.config import load_config

    (tmp_path / "p").mkdir()
    f = tmp_path / "p" / "edgegate.toml"
    f.write_text("[report]\n")
    (tmp_path / "p" / "out").symlink_to(tmp_path)
    cfg = load_config(f)
    with pytest.raises(ConfigError):
        cfg.resolve("out/x.json")  # a symlink out of the project
    monkeypatch.setenv("EDGEGATE_ALLOWED_PATHS", str(tmp_path / "db"))
    assert cfg.resolve(tmp_path / "db" / "osv.db") == tmp_path / "db" / "osv.db"


def test_init_through_a_dangling_symlink_is_refused(cli, tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "edgegate.toml").symlink_to(tmp_path / "outside.toml")
    r = cli("init", proj)
    assert r.exit_code == 2
    r = cli("init", proj, "--force")
    assert r.exit_code == 2
    assert not (tmp_path / "outside.toml").exists()
    (proj / "edgegate.toml").unlink()
    (proj / "policy").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    # a manifest makes init plan policy/team.rego, which the symlinked folder would lead out
    (proj / "web.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n"
        "      containers: [{name: web, image: 'nginx:1.27'}]\n"
    )
    r = cli("init", proj, "--yes")
    assert r.exit_code == 2 and not list((tmp_path / "elsewhere").iterdir())


# --- nothing to check --------------------------------------------------------------------------


def _nothing(r) -> None:  # type: ignore[no-untyped-def]
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert NOTHING_TO_CHECK in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_nothing_to_check_is_exit_2_with_the_same_words(cli, tmp_path: Path) -> None:
    osv = EXAMPLE / "vuln" / "osv"
    (tmp_path / "empty.toml").write_text("")
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "other.yaml").write_text("just: data\nno: kind\n")
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    (tmp_path / "requirements.txt").write_text("# only a comment\n--index-url https://example.invalid\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\n')
    (tmp_path / "empty-dir").mkdir()
    (tmp_path / "bom.json").write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6",
                                                   "components": []}))
    (tmp_path / "usage.csv").write_text("namespace,pod,container,cpu,memory\n")
    _nothing(cli("policy", "lint", "-p", "builtin:edge-ai", tmp_path / "empty.toml"))
    _nothing(cli("policy", "lint", "-p", "builtin:edge-ai", tmp_path / "empty.yaml"))
    for f in ("empty.yaml", "other.yaml"):
        _nothing(cli("cost", "estimate", "--no-config", tmp_path / f))
        _nothing(cli("cost", "rightsize", "--no-config", "--usage", tmp_path / "usage.csv", tmp_path / f))
    _nothing(cli("cost", "rightsize", "--no-config", "--usage", tmp_path / "usage.csv", tmp_path / "cm.yaml"))
    _nothing(cli("vuln", "scan", "--no-config", "--db", osv, tmp_path / "requirements.txt"))
    _nothing(cli("vuln", "scan", "--no-config", "--db", osv, tmp_path / "pyproject.toml"))
    _nothing(cli("vuln", "scan", "--no-config", "--db", osv, "--sbom", tmp_path / "bom.json"))
    _nothing(cli("sbom", "python", tmp_path / "requirements.txt", "--sbom-output", tmp_path / "o.json"))
    _nothing(cli("sbom", "image", tmp_path / "empty-dir", "--sbom-output", tmp_path / "o.json"))
    assert not (tmp_path / "o.json").exists()


@pytest.mark.parametrize("components", [{"a": {"name": "x"}}, ["pkg:pypi/jinja2@2.0"], "x",
                                        [{"name": "a", "components": {"b": 1}}]])
def test_cyclonedx_components_of_the_wrong_type_are_input_errors(cli, tmp_path: Path, components: object) -> None:
    bom = tmp_path / "bom.json"
    bom.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": components}))
    r = cli("vuln", "scan", "--no-config", "--db", EXAMPLE / "vuln" / "osv", "--sbom", bom)
    assert r.exit_code == 2 and "must be" in r.stderr


def test_sign_refuses_non_utf8_names_and_reports_them(cli, tmp_path: Path) -> None:
    env = {"EDGEGATE_KEY_PASSWORD": "pw"}
    assert cli("sign", "keygen", "--private", tmp_path / "k.key", "--public", tmp_path / "k.pub",
               env=env).exit_code == 0
    model = tmp_path / "model"
    model.mkdir()
    (model / "ok.bin").write_bytes(b"x")
    (model / os.fsdecode(b"b\xff.bin")).write_bytes(b"y")
    r = cli("sign", "artifact", "-k", tmp_path / "k.key", model, env=env)
    assert r.exit_code == 2 and "not valid UTF-8" in r.stderr and "internal error" not in r.stderr
    blob = tmp_path / os.fsdecode(b"caf\xe9.bin")
    blob.write_bytes(b"z")
    r = cli("sign", "artifact", "-k", tmp_path / "k.key", blob, "-f", "json", env=env)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)


@pytest.mark.parametrize("value", ["1e+28", "1e50", "1E19", 10**30, 1e40])
def test_quantities_out_of_range_are_quantity_errors(value: object) -> None:
    from decimal import Decimal

    from edgegate.finops.quantities import MAX_QUANTITY, QuantityError, parse_cpu, parse_memory

    with pytest.raises(QuantityError, match="out of range"):
        parse_cpu(value)
    with pytest.raises(QuantityError, match="out of range"):
        parse_memory(value)
    assert parse_memory("7Ei") <= MAX_QUANTITY and parse_cpu("1e18") == Decimal(10**18)


def test_huge_cpu_in_a_manifest_is_an_input_error(cli, tmp_path: Path) -> None:
    text = (EXAMPLE / "manifests" / "inference-deployment.yaml").read_text()
    (tmp_path / "big.yaml").write_text(text.replace('cpu: "500m"', 'cpu: "1e+28"'))
    r = cli("cost", "estimate", "--no-config", tmp_path / "big.yaml")
    assert r.exit_code == 2 and "out of range" in r.stderr and "internal error" not in r.stderr


def test_documents_per_yaml_file_are_bounded() -> None:
    from edgegate.io.documents import load_yaml_text

    assert len(load_yaml_text("---\na: 1\n" * 100, "f.yaml", max_documents=100)) == 100
    with pytest.raises(InputError, match="more than 100 YAML documents"):
        load_yaml_text("---\na: 1\n" * 101, "f.yaml", max_documents=100)


def test_keygen_never_writes_a_key_through_a_fifo_and_keeps_it_private(cli, tmp_path: Path) -> None:
    env = {"EDGEGATE_KEY_PASSWORD": "pw"}
    fifo = tmp_path / "k.key"
    os.mkfifo(fifo)
    r = cli("sign", "keygen", "--private", fifo, "--public", tmp_path / "k.pub", "--force", env=env)
    assert r.exit_code == 2 and stat.S_ISFIFO(os.lstat(fifo).st_mode)  # no hang, nothing replaced
    key = tmp_path / "k2.key"
    key.write_text("old")
    key.chmod(0o644)
    r = cli("sign", "keygen", "--private", key, "--public", tmp_path / "k2.pub", "--force", env=env)
    assert r.exit_code == 0, r.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
