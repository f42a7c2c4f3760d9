"""Certificate ("keyless") signatures in cosign's tag scheme are never admitted (sigstore-python
cannot verify a Rekor promise without an inclusion proof, and the tag scheme stores only the
promise), and the refusal says precisely what was found. The layers are real cosign output:
``cosign sign --key K --certificate LEAF --certificate-chain CA`` writes the certificate and chain
annotations keyless signing writes; the Rekor promise annotation (no Rekor offline) is added by
the test, consistent or altered part by part. Every case is exit 1, none a pass."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from admit_helpers import fixed_image, manifest_yaml, push_image, run_cosign
from test_admit_cosign import _admit, _get, _post_blob, _put

IDENTITY, ISSUER = "release@apexlogic.example", "https://issuer.apexlogic.example"
ANN_SIG, ANN_CERT, ANN_CHAIN, ANN_BUNDLE = ("dev.cosignproject.cosign/signature", "dev.sigstore.cosign/certificate",
                                           "dev.sigstore.cosign/chain", "dev.sigstore.cosign/bundle")


def _certs(leaf_key: Any, folder: Path) -> tuple[Path, Path]:
    """A CA and a Fulcio-shaped leaf (email SAN, issuer extensions, code signing) for `leaf_key`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    der_issuer = b"\x0c" + bytes([len(ISSUER)]) + ISSUER.encode()
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(ca_name)
            .public_key(leaf_key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(minutes=10)).not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(IDENTITY)]), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"),
                                                      ISSUER.encode()), critical=False)
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), der_issuer),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    return folder / "leaf.pem", folder / "ca.pem"


@pytest.fixture(scope="module")
def signed(registry: str, cosign: str, cosign_keys: dict[str, Path],
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Images cosign signed with a certificate (tag scheme); the .sig manifests as cosign wrote them."""
    from cryptography.hazmat.primitives import serialization

    tmp = tmp_path_factory.mktemp("keyless-tag")
    leaf_key = serialization.load_pem_private_key(cosign_keys["ec.pem"].read_bytes(), None)
    leaf, ca = _certs(leaf_key, tmp)
    out: dict[str, Any] = {"tmp": tmp}
    for name in ("a", "b"):
        repo = f"keyless/{name}"
        digest = push_image(registry, repo, "1", tmp)
        run_cosign(cosign, "sign", "--key", str(cosign_keys["ec.key"]), "--certificate", str(leaf), "--certificate-chain",
                   str(ca), "--tlog-upload=false", "--allow-http-registry", f"{registry}/{repo}@{digest}", cwd=tmp)
        tag = digest.replace(":", "-") + ".sig"
        out[name] = {"repo": repo, "digest": digest, "tag": tag,
                     "manifest": json.loads(_get(f"http://{registry}/v2/{repo}/manifests/{tag}"))}
    return out


def _promise(layer: dict[str, Any], payload: bytes, *, data: bytes | None = None, signature: bytes | None = None,
             when: int | None = None) -> str:
    """A Rekor promise annotation shaped as cosign writes it (the SET itself is not Rekor's)."""
    ann = layer["annotations"]
    body = {"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(data or payload).hexdigest()}},
        "signature": {"content": base64.b64encode(signature).decode() if signature else ann[ANN_SIG],
                      "publicKey": {"content": base64.b64encode(ann[ANN_CERT].encode()).decode()}}}}
    return json.dumps({"SignedEntryTimestamp": base64.b64encode(b"\x30" * 70).decode(), "Payload": {
        "body": base64.b64encode(json.dumps(body).encode()).decode(),
        "integratedTime": when if when is not None else int(dt.datetime.now(dt.timezone.utc).timestamp()),
        "logIndex": 1234, "logID": "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"}})


def _republish(registry: str, target: dict[str, Any], source: dict[str, Any], change: Any) -> None:
    """Put `source`'s signature manifest, its layer annotations changed, under `target`'s .sig tag."""
    m = json.loads(json.dumps(source["manifest"]))
    layer = m["layers"][0]
    payload = _get(f"http://{registry}/v2/{source['repo']}/blobs/{layer['digest']}", "*/*")
    change(layer, payload)
    for blob in (m["config"], layer):
        data = _get(f"http://{registry}/v2/{source['repo']}/blobs/{blob['digest']}", "*/*")
        _post_blob(registry, target["repo"], data)
    _put(f"http://{registry}/v2/{target['repo']}/manifests/{target['tag']}", json.dumps(m).encode(), m["mediaType"])


def _verdict(cli: Any, registry: str, tmp: Path, image: dict[str, Any], *policy: str) -> tuple[int, str, str]:
    m = manifest_yaml(tmp / "d.yaml", [f"{registry}/{image['repo']}:1"])
    code, findings, errors = _admit(cli, m, *(policy or ("--identity", IDENTITY, "--issuer", ISSUER)))
    assert errors == [], errors
    return code, findings[0]["rule_id"], findings[0]["message"]


def test_cosign_certificate_signature_without_rekor_entry(registry: str, cli: Any, signed: dict[str, Any],
                                                          tmp_path: Path) -> None:
    layer = signed["a"]["manifest"]["layers"][0]
    assert {ANN_CERT, ANN_CHAIN} <= set(layer["annotations"]) and ANN_BUNDLE not in layer["annotations"]
    code, rule, message = _verdict(cli, registry, tmp_path, signed["a"])
    assert (code, rule) == (1, "EGA004") and "no Rekor entry" in message


def _flip_signature(layer: dict[str, Any]) -> None:
    sig = bytearray(base64.b64decode(layer["annotations"][ANN_SIG]))
    sig[-3] ^= 0x01
    layer["annotations"][ANN_SIG] = base64.b64encode(bytes(sig)).decode()


def _set(layer: dict[str, Any], payload: bytes, **kw: Any) -> None:
    layer["annotations"][ANN_BUNDLE] = _promise(layer, payload, **kw)


@pytest.mark.parametrize(
    ("case", "change", "rule", "words"),
    [
        ("consistent", lambda la, p: _set(la, p), "EGA004", "cannot be verified"),
        ("entry for another payload", lambda la, p: _set(la, p, data=b"other"), "EGA002", "another payload"),
        ("entry with another signature", lambda la, p: _set(la, p, signature=b"\x30" * 70), "EGA002",
         "another signature"),
        ("logged after the certificate expired", lambda la, p: _set(la, p, when=4102444800), "EGA002", "validity"),
        ("signature altered", lambda la, p: (_set(la, p), _flip_signature(la)), "EGA002", "does not verify"),
        ("certificate not PEM", lambda la, p: (_set(la, p), la["annotations"].update({ANN_CERT: "junk"})), "EGA008",
         "not a PEM certificate"),
        ("promise not JSON", lambda la, p: la["annotations"].update({ANN_BUNDLE: "{"}), "EGA008", "malformed"),
    ],
)
def test_keyless_tag_signature_parts_checked_never_admitted(registry: str, cli: Any, signed: dict[str, Any],
                                                            tmp_path: Path, case: str, change: Any, rule: str,
                                                            words: str) -> None:
    _republish(registry, signed["a"], signed["a"], change)
    code, got, message = _verdict(cli, registry, tmp_path, signed["a"])
    assert (code, got) == (1, rule), message
    assert words in message


def test_keyless_tag_signature_other_identity_and_other_image(registry: str, cli: Any, signed: dict[str, Any],
                                                              tmp_path: Path) -> None:
    _republish(registry, signed["a"], signed["a"], lambda la, p: _set(la, p))
    code, rule, message = _verdict(cli, registry, tmp_path, signed["a"], "--identity", "someone@else.example",
                                   "--issuer", ISSUER)
    assert (code, rule) == (1, "EGA004") and "identity policy" in message
    code, rule, message = _verdict(cli, registry, tmp_path, signed["a"], "--github-repository", "apexlogic/edge")
    assert (code, rule) == (1, "EGA004") and "identity policy" in message
    # a's consistent signature (payload for a's digest) copied to b
    _republish(registry, signed["b"], signed["a"], lambda la, p: _set(la, p))
    code, rule, message = _verdict(cli, registry, tmp_path, signed["b"])
    assert (code, rule) == (1, "EGA003") and signed["a"]["digest"] in message


def _layout_with_real_keyless_signature(shared_dir: Path, dest: Path, *, alter_payload: bool = False,
                                        time_shift: int = 0) -> str:
    """An OCI layout: an image, and a .sig layer carrying sigstore-python's real production keyless
    signature (GitHub Actions, trailofbits/rfc8785.py) over a wheel, in cosign's tag-scheme
    annotations. The payload is that wheel, not a simple-signing payload."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    bundle = json.loads((shared_dir / "data/sigstore/bundle_v3_github.whl.sigstore").read_text())
    payload = (shared_dir / "data/sigstore/bundle_v3_github.whl").read_bytes()
    if alter_payload:
        payload = payload[:-1] + bytes([payload[-1] ^ 0x01])
    vm = bundle["verificationMaterial"]
    leaf = x509.load_der_x509_certificate(base64.b64decode(vm["x509CertificateChain"]["certificates"][0]["rawBytes"]))
    entry = vm["tlogEntries"][0]
    annotations = {
        ANN_SIG: bundle["messageSignature"]["signature"],
        ANN_CERT: leaf.public_bytes(serialization.Encoding.PEM).decode(),
        ANN_CHAIN: "",
        ANN_BUNDLE: json.dumps({"SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"], "Payload": {
            "body": entry["canonicalizedBody"], "integratedTime": int(entry["integratedTime"]) + time_shift,
            "logIndex": int(entry["logIndex"]), "logID": base64.b64decode(entry["logId"]["keyId"]).hex()}}),
    }
    blobs, manifest = fixed_image("keyless-tag")
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    config = b'{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}'
    sig_manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                   "digest": "sha256:" + hashlib.sha256(config).hexdigest()},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "size": len(payload),
                    "digest": "sha256:" + hashlib.sha256(payload).hexdigest(), "annotations": annotations}],
    }).encode()
    folder = dest / "blobs" / "sha256"
    folder.mkdir(parents=True)
    for data in [*blobs.values(), manifest, config, payload, sig_manifest]:
        (folder / hashlib.sha256(data).hexdigest()).write_bytes(data)
    (dest / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    entries = [("registry.invalid/keyless/whl:1", manifest), (digest.replace(":", "-") + ".sig", sig_manifest)]
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": len(data),
         "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
         "annotations": {"org.opencontainers.image.ref.name": name}} for name, data in entries]}))
    return digest


@pytest.mark.parametrize(
    ("case", "policy", "rule", "words"),
    [
        ("right signer", ("--github-repository", "trailofbits/rfc8785.py"), "EGA008", "not a cosign simple-signing"),
        ("other repository", ("--github-repository", "apexlogic/edge"), "EGA004", "identity policy"),
        ("other issuer", ("--identity", "x@example.com", "--issuer", ISSUER), "EGA004", "identity policy"),
        ("payload altered", ("--github-repository", "trailofbits/rfc8785.py"), "EGA002", "does not verify"),
        ("logged a day later", ("--github-repository", "trailofbits/rfc8785.py"), "EGA002", "validity"),
    ],
)
def test_real_keyless_signature_in_tag_annotations(shared_dir: Path, cli: Any, tmp_path: Path, case: str,
                                                   policy: tuple[str, ...], rule: str, words: str) -> None:
    """A genuine Fulcio certificate, signature and Rekor entry body: the checks edgegate makes run
    on real material, and the image is still refused (the payload is not about it)."""
    layout = tmp_path / "layout"
    _layout_with_real_keyless_signature(shared_dir, layout, alter_payload=case == "payload altered",
                                        time_shift=86400 if case == "logged a day later" else 0)
    m = manifest_yaml(tmp_path / "d.yaml", ["registry.invalid/keyless/whl:1"])
    code, findings, errors = _admit(cli, m, "--oci-dir", layout, *policy)
    assert (code, errors) == (1, []), errors
    assert findings[0]["rule_id"] == rule, findings[0]["message"]
    assert words in findings[0]["message"]
