"""cosign's own key files and its RSA / Ed25519 keys, against real cosign on a real local registry,
both ways and in both storage schemes: `edgegate sign --image` signs with a key cosign generated
or imported (cosign verifies it), cosign signs with a key `edgegate sign keygen --key-format cosign`
wrote (edgegate admits it), and a wrong password, an altered key file or another key is exit 2 or
exit 1, never a signature and never a pass."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from admit_helpers import PASSWORD, manifest_yaml, push_image, run_cosign
from test_admit_cosign import _admit, _get, _trusted_root


@pytest.fixture(autouse=True)
def _allowed(monkeypatch: pytest.MonkeyPatch, cosign_keys: dict[str, Path], edgegate_keys: tuple[Path, Path],
             other_keys: tuple[Path, Path]) -> None:
    folders = {str(cosign_keys["cosign.key"].parent), str(edgegate_keys[1].parent), str(other_keys[1].parent)}
    monkeypatch.setenv("EDGEGATE_ALLOWED_PATHS", os.pathsep.join(sorted(folders)))
    monkeypatch.delenv("EDGEGATE_KEY_PASSWORD", raising=False)
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)


def _cosign_sign(cosign: str, key: Path, ref: str, scheme: str, cwd: Path, *extra: str) -> None:
    bundle = ["--new-bundle-format"] if scheme == "referrers" else []
    run_cosign(cosign, "sign", "--key", str(key), "--tlog-upload=false", "--allow-http-registry", *bundle, *extra,
               ref, cwd=cwd)


def _cosign_verify(cosign: str, pub: Path, ref: str, scheme: str, cwd: Path) -> Any:
    extra = ["--new-bundle-format", "--trusted-root", str(_trusted_root(cwd))] if scheme == "referrers" else []
    return run_cosign(cosign, "verify", "--key", str(pub), "--insecure-ignore-tlog=true", "--allow-http-registry",
                      *extra, ref, cwd=cwd, check=False)


SCHEMES = ["tag", "referrers"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_edgegate_signs_with_a_key_cosign_generated(registry: str, cosign: str, cli: Any, tmp_path: Path,
                                                    cosign_keys: dict[str, Path], scheme: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ref = f"{registry}/keys/cosign-made-{scheme}:1"
    digest = push_image(registry, f"keys/cosign-made-{scheme}", "1", tmp_path)
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)  # cosign's variable, as cosign reads it
    r = cli("sign", "--image", ref, "--key", cosign_keys["cosign.key"], "--scheme", scheme, "--insecure", "-f", "json")
    assert r.exit_code == 0, r.stderr
    ok = _cosign_verify(cosign, cosign_keys["cosign.pub"], ref, scheme, tmp_path)
    assert ok.returncode == 0 and digest in ok.stdout, ok.stderr
    assert _cosign_verify(cosign, cosign_keys["eg.pub"], ref, scheme, tmp_path).returncode != 0
    m = manifest_yaml(tmp_path / "d.yaml", [ref])
    assert _admit(cli, m, "--key", cosign_keys["cosign.pub"])[0] == 0


@pytest.mark.parametrize("scheme", SCHEMES)
def test_cosign_signs_with_an_edgegate_cosign_format_key(registry: str, cosign: str, cli: Any, tmp_path: Path,
                                                         cosign_keys: dict[str, Path], scheme: str) -> None:
    ref = f"{registry}/keys/eg-made-{scheme}:1"
    digest = push_image(registry, f"keys/eg-made-{scheme}", "1", tmp_path)
    _cosign_sign(cosign, cosign_keys["eg.key"], f"{registry}/keys/eg-made-{scheme}@{digest}", scheme, tmp_path)
    ok = _cosign_verify(cosign, cosign_keys["eg.pub"], ref, scheme, tmp_path)
    assert ok.returncode == 0, ok.stderr
    m = manifest_yaml(tmp_path / "d.yaml", [ref])
    code, findings, errors = _admit(cli, m, "--key", cosign_keys["eg.pub"])
    assert (code, errors) == (0, []) and findings[0]["rule_id"] == "EGA000"
    code, findings, _ = _admit(cli, m, "--key", cosign_keys["cosign.pub"])
    assert code == 1 and findings[0]["rule_id"] == "EGA002"


def test_keygen_cosign_format_from_the_command(cli: Any, cosign: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "from-cosign-variable")
    r = cli("sign", "keygen", "--key-format", "cosign", cwd=tmp_path)
    assert r.exit_code == 0, r.stderr
    key = (tmp_path / "cosign.key").read_text()
    assert key.startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    assert (tmp_path / "cosign.key").stat().st_mode & 0o077 == 0
    # cosign opens it with that password (public-key subcommand decrypts the private key)
    env = {**os.environ, "COSIGN_PASSWORD": "from-cosign-variable"}
    import subprocess

    pub = subprocess.run([cosign, "public-key", "--key", str(tmp_path / "cosign.key")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert pub.returncode == 0 and pub.stdout == (tmp_path / "cosign.pub").read_text(), pub.stderr
    env["COSIGN_PASSWORD"] = "not-it"
    bad = subprocess.run([cosign, "public-key", "--key", str(tmp_path / "cosign.key")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0
    # an unknown format is a usage error and writes nothing
    r = cli("sign", "keygen", "--key-format", "pgp", "--private", tmp_path / "x.key", cwd=tmp_path)
    assert r.exit_code == 2 and not (tmp_path / "x.key").exists()


def _alter(src: Path, dest: Path, change: Any) -> Path:
    text = src.read_text()
    lines = text.strip().splitlines()
    doc = json.loads(base64.b64decode("".join(lines[1:-1])))
    change(doc)
    body = base64.b64encode(json.dumps(doc).encode()).decode()
    dest.write_text("\n".join([lines[0], *[body[i:i + 64] for i in range(0, len(body), 64)], lines[-1]]) + "\n")
    return dest


def _flip_ciphertext(doc: dict[str, Any]) -> None:
    raw = bytearray(base64.b64decode(doc["ciphertext"]))
    raw[len(raw) // 2] ^= 0x01
    doc["ciphertext"] = base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    ("case", "password"),
    [("wrong password", "not-the-password"), ("altered ciphertext", PASSWORD), ("scrypt N raised", PASSWORD),
     ("no password", None)],
)
def test_bad_cosign_key_is_one_line_exit_2_and_nothing_signed(registry: str, cli_subprocess: Any, tmp_path: Path,
                                                              cosign_keys: dict[str, Path], case: str,
                                                              password: str | None) -> None:
    digest = push_image(registry, "keys/bad-key", case.replace(" ", "-"), tmp_path)
    key = cosign_keys["cosign.key"]
    if case == "altered ciphertext":
        key = _alter(key, tmp_path / "cosign.key", _flip_ciphertext)
    elif case == "scrypt N raised":
        key = _alter(key, tmp_path / "cosign.key", lambda d: d["kdf"]["params"].update(N=1 << 20))
    env = {k: v for k, v in os.environ.items() if k not in ("COSIGN_PASSWORD", "EDGEGATE_KEY_PASSWORD")}
    env["EDGEGATE_ALLOWED_PATHS"] = str(tmp_path)
    if password is not None:
        env["COSIGN_PASSWORD"] = password
    r = cli_subprocess("sign", "--image", f"{registry}/keys/bad-key:{case.replace(' ', '-')}", "--key", key,
                       "--insecure", env=env)
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(key) in lines[0] and "Traceback" not in r.stderr, r.stderr
    # nothing was pushed
    sig = f"http://{registry}/v2/keys/bad-key/manifests/{digest.replace(':', '-')}.sig"
    import urllib.error

    with pytest.raises(urllib.error.HTTPError):
        _get(sig)


KINDS = ["rsa", "ed25519"]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("kind", KINDS)
def test_admits_cosign_signatures_made_with_imported_keys(registry: str, cosign: str, cli: Any, tmp_path: Path,
                                                          cosign_keys: dict[str, Path], kind: str, scheme: str) -> None:
    repo = f"keys/imported-{kind}-{scheme}"
    digest = push_image(registry, repo, "1", tmp_path)
    ref = f"{registry}/{repo}:1"
    _cosign_sign(cosign, cosign_keys[f"{kind}.key"], f"{registry}/{repo}@{digest}", scheme, tmp_path)
    m = manifest_yaml(tmp_path / "d.yaml", [ref])
    for pub in (cosign_keys[f"{kind}.pub"], cosign_keys[f"{kind}-spki.pem"]):  # cosign's .pub and the key's own PEM
        code, findings, errors = _admit(cli, m, "--key", pub)
        assert (code, errors) == (0, []) and findings[0]["rule_id"] == "EGA000", findings
    other = "ed25519" if kind == "rsa" else "rsa"
    code, findings, errors = _admit(cli, m, "--key", cosign_keys[f"{other}.pub"])
    assert (code, errors) == (1, []) and findings[0]["rule_id"] == "EGA002"


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("key_file", ["cosign import", "pkcs8"])
def test_cosign_verifies_what_edgegate_signed_with_rsa_and_ed25519(
    registry: str, cosign: str, cli: Any, tmp_path: Path, cosign_keys: dict[str, Path], kind: str, scheme: str,
    key_file: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = f"keys/eg-{kind}-{scheme}-{key_file.replace(' ', '-')}"
    digest = push_image(registry, repo, "1", tmp_path)
    ref = f"{registry}/{repo}:1"
    if key_file == "cosign import":
        monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
        key = cosign_keys[f"{kind}.key"]
    else:
        monkeypatch.setenv("EDGEGATE_KEY_PASSWORD", PASSWORD)
        key = cosign_keys[f"{kind}-enc.pem"]
    r = cli("sign", "--image", ref, "--key", key, "--scheme", scheme, "--insecure", "-f", "json")
    assert r.exit_code == 0, r.stderr
    ok = _cosign_verify(cosign, cosign_keys[f"{kind}.pub"], ref, scheme, tmp_path)
    assert ok.returncode == 0 and digest in ok.stdout, ok.stderr
    other = "ed25519" if kind == "rsa" else "rsa"
    assert _cosign_verify(cosign, cosign_keys[f"{other}.pub"], ref, scheme, tmp_path).returncode != 0


@pytest.mark.parametrize("variant", ["older COSIGN PEM type", "empty password"])
def test_cosign_key_variants_sign(registry: str, cosign: str, cli: Any, tmp_path: Path,
                                  cosign_keys: dict[str, Path], variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """cosign's older PEM type (ENCRYPTED COSIGN PRIVATE KEY) and a key cosign made with an empty
    COSIGN_PASSWORD (cosign allows it; the variable set to "" is the password, as in cosign)."""
    import subprocess

    if variant == "empty password":
        env = {**os.environ, "COSIGN_PASSWORD": "", "HOME": str(tmp_path)}
        subprocess.run([cosign, "generate-key-pair"], cwd=tmp_path, env=env, check=True, capture_output=True,
                       timeout=120)
        key, pub = tmp_path / "cosign.key", tmp_path / "cosign.pub"
        monkeypatch.setenv("COSIGN_PASSWORD", "")
    else:
        key, pub = tmp_path / "old.key", cosign_keys["cosign.pub"]
        key.write_text(cosign_keys["cosign.key"].read_text().replace("SIGSTORE PRIVATE KEY", "COSIGN PRIVATE KEY"))
        monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    repo = "keys/variant-" + variant.split()[0]
    digest = push_image(registry, repo, "1", tmp_path)
    ref = f"{registry}/{repo}:1"
    r = cli("sign", "--image", ref, "--key", key, "--insecure", "-f", "json")
    assert r.exit_code == 0, r.stderr
    ok = _cosign_verify(cosign, pub, ref, "tag", tmp_path)
    assert ok.returncode == 0 and digest in ok.stdout, ok.stderr


def test_per_image_policies_with_rsa_and_ed25519_keys(registry: str, cosign: str, cli: Any, tmp_path: Path,
                                                      cosign_keys: dict[str, Path]) -> None:
    """[[admit.policy]] keys: each image must be signed by its own policy's key (PEM public keys)."""
    refs = {}
    for kind in KINDS:
        repo = f"keys/policy-{kind}"
        digest = push_image(registry, repo, "1", tmp_path)
        _cosign_sign(cosign, cosign_keys[f"{kind}.key"], f"{registry}/{repo}@{digest}", "tag", tmp_path)
        refs[kind] = f"{registry}/{repo}:1"
    manifest_yaml(tmp_path / "d.yaml", list(refs.values()))

    def config(rsa_key: Path, ed_key: Path) -> None:
        (tmp_path / "edgegate.toml").write_text(
            '[admit]\npaths = ["d.yaml"]\ninsecure = true\n\n'
            f'[[admit.policy]]\nimages = ["{registry}/keys/policy-rsa"]\nkeys = ["{rsa_key}"]\n\n'
            f'[[admit.policy]]\nimages = ["{registry}/keys/policy-ed25519"]\nkeys = ["{ed_key}"]\n'
        )

    config(cosign_keys["rsa-spki.pem"], cosign_keys["ed25519-spki.pem"])
    code, findings, errors = _admit(cli, tmp_path)
    assert (code, errors) == (0, []) and [f["rule_id"] for f in findings] == ["EGA000", "EGA000"]
    config(cosign_keys["ed25519-spki.pem"], cosign_keys["rsa-spki.pem"])  # swapped
    code, findings, errors = _admit(cli, tmp_path)
    assert (code, errors) == (1, []) and [f["rule_id"] for f in findings] == ["EGA002", "EGA002"]


@pytest.mark.skipif(os.name != "posix", reason="needs a pseudo-terminal")
def test_cosign_key_password_asked_on_a_terminal(registry: str, cosign: str, tmp_path: Path,
                                                 cosign_keys: dict[str, Path]) -> None:
    """No COSIGN_PASSWORD and no EDGEGATE_KEY_PASSWORD: on a real pseudo-terminal edgegate asks
    (twice for a new key, once to sign), as for its own keys."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sign"))
    from test_sign_passphrase import _on_a_terminal

    code, out = _on_a_terminal(["sign", "keygen", "--key-format", "cosign"], ["typed-pass", "typed-pass"], tmp_path)
    assert code == 0 and out.count("Enter passphrase") == 2, out
    env = {**os.environ, "COSIGN_PASSWORD": "typed-pass"}
    import subprocess

    pub = subprocess.run([cosign, "public-key", "--key", str(tmp_path / "cosign.key")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert pub.returncode == 0 and pub.stdout == (tmp_path / "cosign.pub").read_text(), pub.stderr
    digest = push_image(registry, "keys/typed", "1", tmp_path)
    ref = f"{registry}/keys/typed:1"
    code, out = _on_a_terminal(["sign", "--image", ref, "--key", str(cosign_keys["cosign.key"]), "--insecure"],
                               [PASSWORD], tmp_path)
    assert code == 0 and out.count("Enter passphrase") == 1, out
    ok = _cosign_verify(cosign, cosign_keys["cosign.pub"], ref, "tag", tmp_path)
    assert ok.returncode == 0 and digest in ok.stdout, ok.stderr
    code, out = _on_a_terminal(["sign", "--image", ref, "--key", str(cosign_keys["cosign.key"]), "--insecure"],
                               ["wrong"], tmp_path)
    assert code == 2 and "wrong password" in out and "Traceback" not in out
