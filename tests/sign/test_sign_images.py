"""Container images: the signature covers the manifest digest, so it follows the image (an OCI
layout directory, the same layout as a tar, or a legacy docker-archive's image ID)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from sign_helpers import reasons


def _blob(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return "sha256:" + digest


def make_oci_layout(root: Path, layer: bytes = b"layer-bytes") -> tuple[Path, str]:
    layout = root / "image-oci"
    layout.mkdir()
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    config = json.dumps({"architecture": "arm64", "os": "linux"}).encode()
    cfg = _blob(layout, config)
    lay = _blob(layout, layer)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": lay, "size": len(layer)}],
    }).encode()
    man = _blob(layout, manifest)
    (layout / "index.json").write_text(json.dumps({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man,
                       "size": len(manifest)}],
    }))
    return layout, man


def _tar_dir(src: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w") as tar:
        for p in sorted(src.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(src)), recursive=False)
    return dest


def test_oci_layout_digest_and_tar_agree(tmp_path) -> None:
    from edgegate.sign.image import image_digest

    layout, man = make_oci_layout(tmp_path)
    assert image_digest(layout).digest == man
    tar = _tar_dir(layout, tmp_path / "image.tar")
    got = image_digest(tar)
    assert got.digest == man and got.kind == "manifest"


def test_image_signature_follows_the_image(cli, run_json, tmp_path, keypair) -> None:
    priv, pub = keypair
    layout, _ = make_oci_layout(tmp_path)
    bundle = tmp_path / "image.sigstore.json"
    assert cli("sign", layout, "--image", "--key", priv, "--bundle", bundle).exit_code == 0
    # the same image as a tarball verifies with the same bundle
    tar = _tar_dir(layout, tmp_path / "image.tar")
    code, gate, _ = run_json("verify", tar, "--image", "--bundle", bundle, "--key", pub)
    assert code == 0, gate
    # a verification is a row of the Signatures table (verdict, then what was signed)
    assert gate["findings"] == []
    assert "manifest sha256:" in gate["stats"]["tables"][0]["rows"][0][4]
    # a different image (another layer → another manifest) does not
    (tmp_path / "other").mkdir()
    other, _ = make_oci_layout(tmp_path / "other", b"evil")
    code, gate, _ = run_json("verify", other, "--image", "--bundle", bundle, "--key", pub)
    assert code == 1 and "digest mismatch" in reasons(gate)


def test_corrupted_manifest_blob_is_an_input_error(cli, tmp_path, keypair) -> None:
    layout, man = make_oci_layout(tmp_path)
    (layout / "blobs" / "sha256" / man.split(":")[1]).write_bytes(b"{}")
    res = cli("sign", layout, "--image", "--key", keypair[0])
    assert res.exit_code == 2 and "does not match its digest" in res.stderr


def test_legacy_docker_archive_uses_the_image_id(tmp_path) -> None:
    from edgegate.sign.image import image_digest

    config = b'{"architecture":"amd64","os":"linux"}'
    cfg_hex = hashlib.sha256(config).hexdigest()
    dest = tmp_path / "docker.tar"
    with tarfile.open(dest, "w") as tar:
        for name, data in [
            (f"{cfg_hex}.json", config),
            ("manifest.json", json.dumps([{"Config": f"{cfg_hex}.json", "RepoTags": ["x:1"],
                                           "Layers": []}]).encode()),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    got = image_digest(dest)
    assert got.digest == "sha256:" + cfg_hex and got.kind == "config"


def test_not_an_image(cli, tmp_path, keypair) -> None:
    f = tmp_path / "plain.txt"
    f.write_text("hello")
    res = cli("sign", f, "--image", "--key", keypair[0])
    assert res.exit_code == 2 and "image" in res.stderr
    d = tmp_path / "dir"
    d.mkdir()
    res = cli("sign", d, "--image", "--key", keypair[0])
    assert res.exit_code == 2 and "no index.json" in res.stderr


def test_a_layout_missing_its_blobs_is_not_verified(cli, tmp_path, keypair) -> None:
    # a review: with every blob deleted, `verify --kind image` said "verified manifest ...", exit 0
    priv, pub = keypair
    layout, _ = make_oci_layout(tmp_path)
    bundle = tmp_path / "image.sigstore.json"
    assert cli("sign", layout, "--image", "--key", priv, "--bundle", bundle).exit_code == 0
    blobs = sorted((layout / "blobs" / "sha256").iterdir())
    for gone in blobs:  # the manifest, the config or the layer: each one missing is exit 2
        saved = gone.read_bytes()
        gone.unlink()
        res = cli("verify", layout, "--image", "--bundle", bundle, "--key", pub)
        assert res.exit_code == 2, gone.name
        gone.write_bytes(saved)
    assert cli("verify", layout, "--image", "--bundle", bundle, "--key", pub).exit_code == 0


def test_a_layer_that_does_not_match_its_digest_is_not_verified(cli, tmp_path, keypair) -> None:
    priv, pub = keypair
    layout, _ = make_oci_layout(tmp_path, b"the signed layer")
    bundle = tmp_path / "image.sigstore.json"
    assert cli("sign", layout, "--image", "--key", priv, "--bundle", bundle).exit_code == 0
    layer = hashlib.sha256(b"the signed layer").hexdigest()
    (layout / "blobs" / "sha256" / layer).write_bytes(b"a swapped layer")  # manifest untouched
    res = cli("verify", layout, "--image", "--bundle", bundle, "--key", pub)
    assert res.exit_code == 2
    tar = _tar_dir(layout, tmp_path / "image.tar")  # the same through the tar reader
    assert cli("verify", tar, "--image", "--bundle", bundle, "--key", pub).exit_code == 2


def _relayout(layout: Path, manifest: dict, media: str | None) -> None:  # type: ignore[type-arg]
    data = json.dumps(manifest).encode()
    digest = _blob(layout, data)
    entry = {"digest": digest, "size": len(data)}
    if media:
        entry["mediaType"] = media
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))


def test_a_blob_that_is_neither_plainly_an_index_nor_a_manifest_is_refused(cli, tmp_path, keypair) -> None:
    # a re-review: a manifest-typed blob with '"manifests": []' was read as an (empty) index, so
    # its layers, one of them absent, were never checked
    layout, _ = make_oci_layout(tmp_path)
    man_type = "application/vnd.oci.image.manifest.v1+json"
    absent = {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + "1" * 64, "size": 1}
    config = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "2" * 64, "size": 1}
    cases = [
        ({"schemaVersion": 2, "mediaType": man_type, "manifests": [], "config": config, "layers": [absent]}, man_type),
        ({"schemaVersion": 2, "manifests": []}, "application/vnd.oci.image.index.v1+json"),  # nothing to check
        ({"schemaVersion": 2, "mediaType": man_type, "manifests": [{"digest": "sha256:" + "3" * 64}]}, None),
    ]
    for manifest, media in cases:
        _relayout(layout, manifest, media)
        assert cli("sign", layout, "--image", "--key", keypair[0]).exit_code == 2, manifest
