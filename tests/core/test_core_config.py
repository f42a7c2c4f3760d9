"""Config discovery (edgegate.toml, [tool.edgegate]), validation errors naming key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgegate.check import load_for_check, selected_gates
from edgegate.config import find_config, load_config
from edgegate.errors import ConfigError

GOOD = '[policy]\npaths = ["manifests"]\nrules = ["policy"]\n'


def test_find_config_upwards(tmp_path: Path) -> None:
    (tmp_path / "edgegate.toml").write_text(GOOD)
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert find_config(deep) == (tmp_path / "edgegate.toml").resolve()
    assert find_config(tmp_path) == (tmp_path / "edgegate.toml").resolve()


def test_find_config_two_on_the_way_up_are_an_error(tmp_path: Path) -> None:
    # a review: `check manifests` read a hidden manifests/.edgegate.toml a pull request added and
    # dropped every gate of the project's own config (exit 0); two configs are now exit 2
    (tmp_path / ".git").mkdir()
    (tmp_path / "edgegate.toml").write_text(GOOD)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / ".edgegate.toml").write_text(GOOD)
    with pytest.raises(ConfigError, match="two configs"):
        find_config(sub / ".")
    with pytest.raises(ConfigError, match="two configs"):
        load_for_check(sub)
    assert find_config(tmp_path) == (tmp_path / "edgegate.toml").resolve()  # the root's: below is not read
    assert load_for_check(sub, sub / ".edgegate.toml").path == sub / ".edgegate.toml"  # named: no search


def test_check_of_a_folder_with_a_second_config_is_exit_2(cli, tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "edgegate.toml").write_text(GOOD)
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / ".edgegate.toml").write_text('[policy]\npaths = ["."]\nrules = ["p"]\n')
    r = cli("check", "manifests", cwd=tmp_path)
    assert r.exit_code == 2
    assert "two configs" in r.stderr and "Traceback" not in r.stderr


def test_find_config_stops_at_git_root(tmp_path: Path) -> None:
    (tmp_path / "edgegate.toml").write_text(GOOD)
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "src").mkdir()
    assert find_config(repo / "src") is None


def test_find_config_pyproject_only_with_tool_section(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_config(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.edgegate.policy]\npaths = ["k8s"]\n')
    assert find_config(tmp_path) == (tmp_path / "pyproject.toml").resolve()
    # edgegate.toml beside it: which one applies is not guessed (either could be a PR's)
    (tmp_path / "edgegate.toml").write_text(GOOD)
    with pytest.raises(ConfigError, match="two configs"):
        find_config(tmp_path)


def test_load_pyproject_tool_section(tmp_path: Path) -> None:
    f = tmp_path / "pyproject.toml"
    f.write_text('[project]\nname = "x"\n\n[tool.edgegate.policy]\npaths = ["k8s"]\nfail-on-warn = true\n')
    cfg = load_config(f)
    assert cfg.section("policy") == {"paths": ["k8s"], "fail-on-warn": True}
    assert cfg.root == tmp_path.resolve()
    assert cfg.resolve("k8s") == tmp_path.resolve() / "k8s"
    # issue 15: a config path outside the project is refused unless a folder is allowed
    with pytest.raises(ConfigError, match="outside the project folder"):
        cfg.resolve("/abs/x")
    with pytest.raises(ConfigError, match="outside the project folder"):
        cfg.resolve("../../x")


def test_pyproject_unknown_key_is_prefixed(tmp_path: Path) -> None:
    f = tmp_path / "pyproject.toml"
    f.write_text('[tool.edgegate.policy]\nrulez = ["x"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(f)
    assert "tool.edgegate.policy.rulez" in info.value.message
    assert info.value.path == str(f)


def test_pyproject_without_tool_section_is_error(tmp_path: Path) -> None:
    f = tmp_path / "pyproject.toml"
    f.write_text('[project]\nname = "x"\n')
    with pytest.raises(ConfigError, match=r"no \[tool.edgegate\] table"):
        load_config(f)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    f = tmp_path / "edgegate.toml"
    f.write_text(GOOD + '\n[polcy]\npaths = ["x"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(f)
    assert "'polcy'" in info.value.message and "unknown key" in info.value.message
    assert info.value.path == str(f)
    assert str(info.value).startswith(str(f))


def test_section_schema_rejects_unknown_key(tmp_path: Path) -> None:
    f = tmp_path / "edgegate.toml"
    f.write_text('[policy]\npaths = ["m"]\nrulez = ["policy"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(f)
    assert info.value.message == "unknown key 'policy.rulez' (did you mean 'rules'?)"
    assert info.value.path == str(f)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('[policy]\npaths = "manifests"\n', "policy.paths"),
        ('[policy]\nfail-on-warn = "yes"\n', "policy.fail-on-warn"),
        ('[policy]\nfail-on = "severe"\n', "policy.fail-on"),
        ('[policy]\npaths = []\n', "policy.paths"),
        ('[report]\nformats = ["pdf"]\n', "report.formats.0"),
        ('gates = ["policy", "nuclear"]\n[policy]\n', "gates.1"),
    ],
)
def test_bad_value_types_name_the_key(tmp_path: Path, body: str, key: str) -> None:
    f = tmp_path / "edgegate.toml"
    f.write_text(body)
    with pytest.raises(ConfigError) as info:
        load_config(f)
    assert f"'{key}'" in info.value.message
    assert info.value.path == str(f)


def test_section_must_be_a_table(tmp_path: Path) -> None:
    f = tmp_path / "edgegate.toml"
    f.write_text('policy = "yes"\n')
    with pytest.raises(ConfigError, match="'policy'"):
        load_config(f)


def test_malformed_toml_config(tmp_path: Path) -> None:
    f = tmp_path / "edgegate.toml"
    f.write_text('[policy]\npaths = ["a"\n')
    with pytest.raises(ConfigError) as info:
        load_config(f)
    assert "malformed TOML" in info.value.message
    assert info.value.path == str(f)


def test_binary_config_is_config_error(tmp_path: Path) -> None:
    f = tmp_path / "edgegate.toml"
    f.write_bytes(b"\x00\x01\x02")
    with pytest.raises(ConfigError, match="binary"):
        load_config(f)


def test_load_for_check_without_config(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    with pytest.raises(ConfigError, match="edgegate init"):
        load_for_check(tmp_path)
    with pytest.raises(ConfigError, match="no such file or directory"):
        load_for_check(tmp_path / "missing")
    with pytest.raises(ConfigError, match="no such config file"):
        load_for_check(tmp_path, tmp_path / "other.toml")


def test_selected_gates(tmp_path: Path) -> None:
    f = tmp_path / "edgegate.toml"
    f.write_text(GOOD)
    cfg = load_config(f)
    assert selected_gates(cfg) == ["policy"]
    assert selected_gates(cfg, ["policy"]) == ["policy"]
    with pytest.raises(ConfigError, match="unknown gate 'nope'"):
        selected_gates(cfg, ["nope"])
    with pytest.raises(ConfigError, match=r"gate 'vuln' has no \[vuln\] section"):
        selected_gates(cfg, ["vuln"])
    f.write_text('gates = ["vuln"]\n' + GOOD)
    with pytest.raises(ConfigError, match="listed in 'gates'"):
        selected_gates(load_config(f))
    f.write_text("[report]\nformats = [\"text\"]\n")
    with pytest.raises(ConfigError, match="no gate is configured"):
        selected_gates(load_config(f))


def test_every_gate_section_has_a_strict_schema() -> None:
    """A typo in any gate's section must be a ConfigError, never a silently ignored key."""
    import json

    import jsonschema

    from edgegate.gates import GATES
    from edgegate.resources import schema_path

    jsonschema.Draft202012Validator.check_schema(json.loads(schema_path("config.schema.json").read_text()))
    missing = []
    for gate in GATES:
        path = schema_path(f"config/{gate}.schema.json")
        if not path.is_file():
            missing.append(gate)
            continue
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema.get("additionalProperties") is False or schema.get("unevaluatedProperties") is False, gate
    assert not missing, f"no config schema for: {missing}"


def test_typo_in_any_gate_section_is_rejected(tmp_path: Path) -> None:
    from edgegate.gates import GATES

    f = tmp_path / "edgegate.toml"
    for gate in GATES:
        f.write_text(f"[{gate}]\nno_such_key_xyz = 1\n")
        with pytest.raises(ConfigError) as info:
            load_config(f)
        assert "no_such_key_xyz" in info.value.message, gate


def test_expiry_dates_of_vuln_ignores_and_policy_overrides(tmp_path: Path) -> None:
    # one reader for both: TOML dates, datetimes (as their date) and YYYY-MM-DD strings
    import datetime as dt

    from edgegate.config import load_config

    f = tmp_path / "edgegate.toml"
    f.write_text("[policy]\n")
    cfg = load_config(f)
    assert cfg.expiry_date(dt.date(2030, 1, 2), "x") == dt.date(2030, 1, 2)
    assert cfg.expiry_date(dt.datetime(2030, 1, 2, 3, 4), "x") == dt.date(2030, 1, 2)
    assert cfg.expiry_date("2030-01-02", "x") == dt.date(2030, 1, 2)
    assert cfg.expiry_date(None, "x") is None
    with pytest.raises(ConfigError, match=r"vuln\.ignore\[0\]\.expires"):
        cfg.expiry_date("soon", "vuln.ignore[0]")


def test_a_config_symlinked_to_a_file_outside_its_folder_is_refused(tmp_path: Path) -> None:
    """Found by review: the project folder was the link target's folder, so a committed symlink
    edgegate.toml -> /elsewhere/edgegate.toml let that file's paths (rules, data) be read from
    outside the checkout. A symlink within the folder still works, rooted at the folder."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "edgegate.toml").write_text('[policy]\nrules = ["r"]\n')
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "edgegate.toml").symlink_to(outside / "edgegate.toml")
    with pytest.raises(ConfigError):
        load_config(proj / "edgegate.toml")
    (proj / "edgegate.toml").unlink()
    (proj / "real.toml").write_text('[policy]\nrules = ["r"]\n')
    (proj / "edgegate.toml").symlink_to("real.toml")
    assert load_config(proj / "edgegate.toml").root == proj.resolve()
