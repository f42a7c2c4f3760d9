"""What admit cannot check is never a pass: an unreachable registry, 401/404, an index without
the platform, malformed or oversized signatures, bad references, no images, no policy; plus
credentials from a Docker credential helper and pinning."""

from __future__ import annotations

import json
import os
import stat
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from admit_helpers import REGISTRY, _free_port, image_line, manifest_yaml, push_image, start_registry

from edgegate.admit.oci import OciClient
from edgegate.sbom.registry import parse_reference


def _admit(cli: Any, *args: str | Path, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    r = cli("admit", *args, "-f", "json", env=env)
    doc = json.loads(r.stdout) if r.stdout.strip().startswith("{") else {}
    return r.exit_code, (doc.get("gates") or [{}])[0], r.stderr


def test_unreachable_registry_and_missing_image_are_errors(registry: str, cli: Any, tmp_path: Path,
                                                           edgegate_keys: tuple[Path, Path]) -> None:
    dead = f"127.0.0.1:{_free_port()}/edge/app:1"
    missing = f"{registry}/edge/absent:1"
    m = manifest_yaml(tmp_path / "d.yaml", [dead, missing])
    code, gate, _ = _admit(cli, m, "--key", edgegate_keys[1], "--insecure")
    assert code == 2 and gate["status"] == "error"
    errors = gate["errors"]
    assert len(errors) == 2
    assert errors[0].startswith(f"{m}:{image_line(m, dead)}: image {dead}: ") and "unreachable" in errors[0]
    assert errors[1].startswith(f"{m}:{image_line(m, missing)}: image {missing}: ") and "not found" in errors[1]
    assert not any(f["rule_id"] == "EGA000" for f in gate["findings"])


def test_index_without_the_platform(registry: str, cli: Any, tmp_path: Path, edgegate_keys: tuple[Path, Path]) -> None:
    push_image(registry, "edge/arm-only", "1", tmp_path, platforms=("linux/arm64", "linux/arm/v7"))
    m = manifest_yaml(tmp_path / "d.yaml", [f"{registry}/edge/arm-only:1"])
    code, gate, _ = _admit(cli, m, "--key", edgegate_keys[1], "--insecure")
    assert code == 2 and "no manifest for platform linux/amd64" in gate["errors"][0]
    code, gate, _ = _admit(cli, m, "--key", edgegate_keys[1], "--insecure", "--platform", "linux/arm64")
    assert code == 1 and gate["findings"][0]["rule_id"] == "EGA001"  # resolved, but unsigned


def _sig_manifest(host: str, repo: str, digest: str) -> tuple[str, dict[str, Any]]:
    tag = digest.replace(":", "-") + ".sig"
    url = f"http://{host}/v2/{repo}/manifests/{tag}"
    req = urllib.request.Request(url, headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(req) as r:
        return url, json.loads(r.read())


def _put(url: str, doc: dict[str, Any]) -> None:
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), method="PUT",
                                 headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(req):
        pass


@pytest.mark.parametrize("damage", ["not-base64", "no-annotation", "oversized", "no-layers"])
def test_malformed_signature_manifest_is_never_a_pass(
    registry: str, cli: Any, tmp_path: Path, edgegate_keys: tuple[Path, Path], damage: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from admit_helpers import PASSWORD

    repo = f"edge/malformed-{damage}"
    digest = push_image(registry, repo, "1", tmp_path)
    monkeypatch.setenv("EDGEGATE_KEY_PASSWORD", PASSWORD)
    assert cli("sign", "--image", f"{registry}/{repo}:1", "--key", edgegate_keys[0], "--insecure").exit_code == 0
    url, m = _sig_manifest(registry, repo, digest)
    layer = m["layers"][0]
    if damage == "not-base64":
        layer["annotations"]["dev.cosignproject.cosign/signature"] = "%%% not base64 %%%"
    elif damage == "no-annotation":
        layer["annotations"] = {}
    elif damage == "oversized":
        layer["size"] = 64 * 1024 * 1024
    else:
        m["layers"] = []
    _put(url, m)
    man = manifest_yaml(tmp_path / "d.yaml", [f"{registry}/{repo}:1"])
    code, gate, stderr = _admit(cli, man, "--key", edgegate_keys[1], "--insecure")
    assert code == 1, (gate, stderr)
    (f,) = gate["findings"]
    assert f["rule_id"] in ("EGA008", "EGA001") and f["blocking"] and f["location"]["line"] == image_line(man, f"{registry}/{repo}:1")


def test_bad_reference_no_images_no_policy(registry: str, cli: Any, tmp_path: Path,
                                           edgegate_keys: tuple[Path, Path]) -> None:
    m = manifest_yaml(tmp_path / "d.yaml", ["Reg.Example/UPPER/Case:1"])
    code, gate, _ = _admit(cli, m, "--key", edgegate_keys[1])
    assert code == 2 and gate["errors"][0].startswith(f"{m}:{image_line(m, 'Reg.Example/UPPER/Case:1')}: ")
    empty = tmp_path / "cm.yaml"
    empty.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    code, gate, _ = _admit(cli, empty, "--key", edgegate_keys[1])
    assert code == 2 and "no container image" in gate["errors"][0]
    # no trust at all: a usage error, one line
    r = cli("admit", m)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "no trust given" in r.stderr
    # an image no [[admit.policy]] covers is refused
    digest = push_image(registry, "other/app", "1", tmp_path)
    (tmp_path / "edgegate.toml").write_text(
        '[admit]\npaths = ["d.yaml"]\ninsecure = true\n\n[[admit.policy]]\nimages = ["reg.example/**"]\n'
        f'keys = ["{edgegate_keys[1]}"]\n'
    )
    manifest_yaml(tmp_path / "d.yaml", [f"{registry}/other/app:1"])
    code, gate, _ = _admit(cli, tmp_path)
    assert code == 1 and gate["findings"][0]["rule_id"] == "EGA007" and gate["findings"][0]["details"]["digest"] == digest


def test_pin_writes_a_patch_and_the_manifests(registry: str, cli: Any, tmp_path: Path,
                                              edgegate_keys: tuple[Path, Path]) -> None:
    digest = push_image(registry, "edge/pin-me", "2.0", tmp_path)
    ref = f"{registry}/edge/pin-me:2.0"
    m = manifest_yaml(tmp_path / "d.yaml", [ref])
    before = m.read_text()
    patch = tmp_path / "pin.patch"
    code, _, _ = _admit(cli, m, "--key", edgegate_keys[1], "--insecure", "--pin", patch)
    assert code == 1  # unsigned, but resolved and pinned
    assert m.read_text() == before
    text = patch.read_text()
    assert f"-          image: {ref}\n" in text and f"+          image: {ref}@{digest}\n" in text
    code, _, _ = _admit(cli, m, "--key", edgegate_keys[1], "--insecure", "--write")
    assert m.read_text() == before.replace(ref, f"{ref}@{digest}")


# --- basic auth and a Docker credential helper ------------------------------------------------


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from test_sbom_registry import _bcrypt

    if REGISTRY is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    hashed = _bcrypt("s3cret")
    if hashed is None:
        pytest.skip("no bcrypt implementation to write an htpasswd file")
    root = tmp_path_factory.mktemp("admit-basic")
    (root / "htpasswd").write_text(f"alice:{hashed}\n")
    proc, host = start_registry(root, f"auth:\n  htpasswd:\n    realm: edgegate-test\n    path: {root / 'htpasswd'}\n")
    try:
        yield host
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_credential_helper_and_401(basic_registry: str, cli: Any, tmp_path: Path,
                                   edgegate_keys: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from admit_helpers import fixed_image

    host = basic_registry
    monkeypatch.delenv("EDGEGATE_REGISTRY_USERNAME", raising=False)
    monkeypatch.delenv("EDGEGATE_REGISTRY_PASSWORD", raising=False)
    docker = tmp_path / "docker"
    docker.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(docker))
    # no credentials: 401 is an error naming the image
    m = manifest_yaml(tmp_path / "d.yaml", [f"{host}/edge/private:1"])
    code, gate, _ = _admit(cli, m, "--key", edgegate_keys[1], "--insecure")
    assert code == 2 and "registry requires credentials" in gate["errors"][0] and f"{host}/edge/private:1" in gate["errors"][0]
    # a credential helper (Docker's protocol: registry on stdin, JSON on stdout)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-edgetest"
    helper.write_text(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread host\n"
        f"[ \"$host\" = \"{host}\" ] || exit 1\n"
        "printf '{\"ServerURL\":\"%s\",\"Username\":\"alice\",\"Secret\":\"s3cret\"}' \"$host\"\n"
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    (docker / "config.json").write_text(json.dumps({"credHelpers": {host: "edgetest"}}))
    client = OciClient(parse_reference(f"{host}/edge/private:1"), insecure=True)
    blobs, manifest = fixed_image("private")
    for data in blobs.values():
        client.push_blob(data)
    digest = client.push_manifest("1", manifest, "application/vnd.oci.image.manifest.v1+json")
    code, gate, _ = _admit(cli, m, "--key", edgegate_keys[1], "--insecure")
    assert code == 1 and gate["errors"] == [] and gate["findings"][0]["rule_id"] == "EGA001"
    assert gate["findings"][0]["details"]["digest"] == digest
    # wrong secret from the helper: refused, an error
    helper.write_text("#!/bin/sh\nprintf '{\"Username\":\"alice\",\"Secret\":\"wrong\"}'\n")
    code, gate, _ = _admit(cli, m, "--key", edgegate_keys[1], "--insecure")
    assert code == 2 and "401" in gate["errors"][0]


def test_warn_mode_reports_without_failing_and_sign_needs_a_key(registry: str, cli: Any, tmp_path: Path,
                                                                edgegate_keys: tuple[Path, Path]) -> None:
    push_image(registry, "warn/app", "1", tmp_path)
    ref = f"{registry}/warn/app:1"
    manifest_yaml(tmp_path / "d.yaml", [ref])
    (tmp_path / "edgegate.toml").write_text(
        '[admit]\npaths = ["d.yaml"]\ninsecure = true\n\n[[admit.policy]]\nimages = ["**"]\nmode = "warn"\n'
        f'keys = ["{edgegate_keys[1]}"]\n'
    )
    code, gate, _ = _admit(cli, tmp_path)
    assert code == 0 and gate["status"] == "passed"
    (f,) = gate["findings"]
    assert f["rule_id"] == "EGA001" and f["blocking"] is False
    r = cli("sign", "--image", ref, "--insecure")
    assert r.exit_code == 2 and "needs --key" in r.stderr
