"""`[verify]` in edgegate.toml, run by `edgegate check` through edgegate.sign.gate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sign_helpers import make_model


def _project(tmp_path: Path, shared_dir: Path, keypair: tuple[Path, Path], cli, extra: str = "") -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    model = make_model(proj)
    shutil.move(str(keypair[1]), proj / "signing.pub")
    assert cli("sign", model, "--key", keypair[0], "--bundle", proj / "tiny-model.sig").exit_code == 0
    d = shared_dir / "data" / "sigstore"
    shutil.copy(d / "bundle_v3_github.whl", proj / "rfc8785.whl")
    shutil.copy(d / "bundle_v3_github.whl.sigstore", proj / "rfc8785.whl.sigstore.json")
    (proj / "edgegate.toml").write_text(f"""
[verify]
key = "signing.pub"

[[verify.artifacts]]
path = "tiny-model"

[[verify.artifacts]]
path = "rfc8785.whl"
github-repository = "trailofbits/rfc8785.py"
github-ref = "refs/tags/v0.1.2"
{extra}
""")
    return proj


def _check(cli, proj: Path) -> tuple[int, dict]:
    res = cli("check", proj, "-f", "json")
    data = json.loads(res.stdout) if res.stdout.strip() else {}
    gates = [g for g in data.get("gates", []) if g["gate"] == "verify"]
    return res.exit_code, gates[0] if gates else {"stderr": res.stderr}


def test_check_passes_when_every_artifact_verifies(cli, tmp_path, shared_dir, keypair) -> None:
    proj = _project(tmp_path, shared_dir, keypair, cli)
    code, gate = _check(cli, proj)
    assert code == 0, gate
    assert gate["stats"]["verified"] == 2
    rows = gate["stats"]["tables"][0]["rows"]
    assert [r[3] for r in rows] == ["verified", "verified"]


def test_check_fails_on_a_tampered_model(cli, tmp_path, shared_dir, keypair) -> None:
    proj = _project(tmp_path, shared_dir, keypair, cli)
    (proj / "tiny-model" / "config.json").write_text("{}")
    code, gate = _check(cli, proj)
    assert code == 1
    assert any("changed: config.json" in f["message"] for f in gate["findings"])


def test_check_fails_on_wrong_identity(cli, tmp_path, shared_dir, keypair) -> None:
    proj = _project(tmp_path, shared_dir, keypair, cli)
    toml = (proj / "edgegate.toml").read_text().replace("trailofbits/rfc8785.py", "someone/else")
    (proj / "edgegate.toml").write_text(toml)
    code, gate = _check(cli, proj)
    assert code == 1
    assert gate["findings"][-1]["rule_id"] == "EGS003"


def test_missing_bundle_is_an_error_not_a_pass(cli, tmp_path, shared_dir, keypair) -> None:
    proj = _project(tmp_path, shared_dir, keypair, cli, extra='\n[[verify.artifacts]]\npath = "rfc8785.whl"\n'
                    'bundle = "nope.sigstore.json"\nidentity = "x@y.z"\nissuer = "https://accounts.google.com"\n')
    code, gate = _check(cli, proj)
    assert code == 2
    assert gate["status"] == "error"
    assert any("no such file" in e for e in gate["errors"])


def test_unknown_config_key_is_refused(cli, tmp_path, shared_dir, keypair) -> None:
    proj = _project(tmp_path, shared_dir, keypair, cli, extra='colour = "blue"\n')
    res = cli("check", proj)
    assert res.exit_code == 2
    assert "colour" in res.stderr


def test_gate_reads_the_same_requests_as_the_cli(tmp_path) -> None:
    from edgegate.config import Config
    from edgegate.sign.gate import requests_from_config

    cfg = Config(path=None, root=tmp_path, data={})
    reqs = requests_from_config(
        {"key": "k.pub", "instance": "staging",
         "artifacts": [{"path": "m"}, {"path": "f.txt", "identity": "a@b", "issuer": "https://i"}]},
        cfg,
    )
    assert reqs[0].key == tmp_path / "k.pub" and reqs[0].bundle == tmp_path / "m.sigstore.json"
    assert reqs[1].key is None and reqs[1].policy.identity == "a@b" and reqs[1].instance == "staging"


def test_sign_section_takes_no_keys(cli, tmp_path) -> None:
    (tmp_path / "edgegate.toml").write_text('[sign]\nkey = "k.pem"\n\n[verify]\nkey = "k.pub"\n'
                                            '[[verify.artifacts]]\npath = "x"\n')
    res = cli("check", tmp_path)
    assert res.exit_code == 2
    assert "sign.key" in res.stderr
