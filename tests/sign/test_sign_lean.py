"""The key-mode path writes and reads bundles and model statements without sigstore_models or
model-signing: compared here with those libraries on the same inputs, and checked to import
none of the heavy modules in a fresh process."""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sign_helpers import PASSWORD

from edgegate.sign import _key_bundle
from edgegate.sign.bundles import VerificationFailure, sign_digest_bundle, sign_dsse_bundle
from edgegate.sign.model import ModelManifest, parse_statement, statement_payload

HEAVY = ("pydantic", "pydantic_core", "sigstore", "sigstore_models", "model_signing", "google",
         "in_toto_attestation", "rekor_types", "requests", "urllib3", "securesystemslib", "tuf")

IN_TOTO = "application/vnd.in-toto+json"


def _key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


MANIFESTS = [
    ModelManifest("tiny-model", {"config.json": "aa" * 32, "weights/part-0.bin": "bb" * 32},
                  {"method": "files", "hash_type": "sha256", "allow_symlinks": False}),
    # a/b sorts before a-c as a path (not as text); non-ASCII names; ignore paths; symlinks on
    ModelManifest("mödel \"x\"", {"a-c": "01" * 32, "a/b": "02" * 32, "é/ü.bin": "03" * 32, "z": "04" * 32},
                  {"method": "files", "hash_type": "sha256", "allow_symlinks": True,
                   "ignore_paths": [".git", ".gitignore", "m.sig"]}),
    ModelManifest("empty", {}, {"method": "files", "hash_type": "sha256", "allow_symlinks": False}),
]


# --- bundles: byte for byte what sigstore_models writes ----------------------------------------


def test_file_bundle_is_what_sigstore_models_writes() -> None:
    from sigstore_models.bundle import v1 as bundle_v1
    from sigstore_models.common import v1 as common_v1

    from edgegate.sign.keys import key_hint

    key = _key()
    digest = bytes(range(32))
    text = sign_digest_bundle(key, digest.hex())
    doc = json.loads(text)
    signature = base64.b64decode(doc["messageSignature"]["signature"])
    b64 = base64.b64encode
    theirs = bundle_v1.Bundle(
        media_type="application/vnd.dev.sigstore.bundle.v0.3+json",
        verification_material=bundle_v1.VerificationMaterial(
            public_key=common_v1.PublicKeyIdentifier(hint=key_hint(key.public_key())), tlog_entries=[]
        ),
        message_signature=common_v1.MessageSignature(
            message_digest=common_v1.HashOutput(algorithm=common_v1.HashAlgorithm.SHA2_256, digest=b64(digest)),
            signature=b64(signature),
        ),
    ).to_json()
    assert text == theirs
    assert bundle_v1.Bundle.from_json(text).to_json() == text


def _ms_payload(manifest: ModelManifest) -> Any:
    """model-signing's own `Payload` for `manifest`."""
    from model_signing import manifest as m
    from model_signing._hashing import hashing as h
    from model_signing._signing import signing as s

    items = [m.FileManifestItem(path=Path(n), digest=h.Digest("sha256", bytes.fromhex(d)))
             for n, d in manifest.digests.items()]
    ser = manifest.serialization
    serialization = m._FileSerialization("sha256", ser["allow_symlinks"], [Path(p) for p in ser.get("ignore_paths", [])])
    return s.Payload(m.Manifest(manifest.model_name, items, serialization))


@pytest.mark.parametrize("index", range(len(MANIFESTS)))
def test_model_bundle_is_what_model_signing_writes(index: int) -> None:
    """model-signing's elliptic-key signer on the same key and manifest: the same JSON, byte for
    byte, but for the two fields that differ between any two runs of model-signing itself (the
    randomised ECDSA signature, and the payload whose predicate key order its protobuf backend
    randomises: that payload is the same document)."""
    from model_signing._signing import sign_ec_key
    from sigstore_models.bundle import v1 as bundle_v1

    from edgegate.sign.model import sign_manifest_with_key

    key = _key()

    class _Signer(sign_ec_key.Signer):  # type: ignore[misc]
        def __init__(self) -> None:  # the key in memory instead of a PEM file
            self._private_key = key

    manifest = MANIFESTS[index]
    ours_text = sign_manifest_with_key(manifest, key)
    theirs_text = _Signer().sign(_ms_payload(manifest)).bundle.to_json()
    ours, theirs = json.loads(ours_text), json.loads(theirs_text)
    o_env, t_env = ours["dsseEnvelope"], theirs["dsseEnvelope"]
    assert json.loads(base64.b64decode(o_env["payload"])) == json.loads(base64.b64decode(t_env["payload"]))
    swapped = theirs_text.replace(t_env["payload"], o_env["payload"]).replace(
        t_env["signatures"][0]["sig"], o_env["signatures"][0]["sig"])
    assert swapped == ours_text
    assert bundle_v1.Bundle.from_json(ours_text).to_json() == ours_text


# --- bundle reading: the canonical shape here, everything else by sigstore_models --------------


def _outcome(doc: dict[str, Any], library: bool) -> Any:
    try:
        return _key_bundle.parse(copy.deepcopy(doc), library=library)
    except _key_bundle.MalformedBundle:
        return "malformed"


def _mutations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every key removed, an extra key added to every object, every leaf replaced by odd values."""
    out: list[dict[str, Any]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            extra = copy.deepcopy(doc)
            _at(extra, path)["unexpected"] = "x"
            out.append(extra)
            for k, v in node.items():
                gone = copy.deepcopy(doc)
                del _at(gone, path)[k]
                out.append(gone)
                walk(v, (*path, k))
        elif isinstance(node, list):
            for value in ([], [{}], None, "x", node * 2):
                out.append(_set(doc, path, value))
            for i, v in enumerate(node):
                walk(v, (*path, i))
        else:
            for value in (None, 1, True, "", "YQ", "Y Q==", "-_-_", "YWJj\n", [], {}):
                out.append(_set(doc, path, value))
            if isinstance(node, str):
                out.append(_set(doc, path, node.lower()))
                out.append(_set(doc, path, node + "="))

    walk(doc, ())
    return out


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    new = copy.deepcopy(doc)
    _at(new, path[:-1])[path[-1]] = value
    return new


@pytest.mark.parametrize("kind", ["message", "dsse"])
def test_bundle_reader_agrees_with_sigstore_models(kind: str) -> None:
    key = _key()
    if kind == "message":
        text = sign_digest_bundle(key, "ab" * 32)
    else:
        text = sign_dsse_bundle(key, IN_TOTO, statement_payload(MANIFESTS[0]))
    doc = json.loads(text)
    base = _outcome(doc, library=False)
    assert base == _outcome(doc, library=True) and base != "malformed"
    cases = _mutations(doc)
    assert len(cases) > 60
    accepted = 0
    for case in cases:
        ours, theirs = _outcome(case, library=False), _outcome(case, library=True)
        assert ours == theirs, json.dumps(case)
        accepted += ours != "malformed"
    assert 0 < accepted < len(cases)  # the corpus has both verdicts


def test_bundle_reader_hands_other_shapes_to_the_library() -> None:
    doc = json.loads(sign_digest_bundle(_key(), "ab" * 32))
    assert _key_bundle._fast(doc) is not None
    for odd in (
        _set(doc, ("verificationMaterial", "tlogEntries"), [{"logIndex": "1"}]),
        _set(doc, ("messageSignature", "signature"), "YQ"),  # unpadded: the library's call
        _set(doc, ("messageSignature", "messageDigest", "algorithm"), "SHA2_384"),
    ):
        assert _key_bundle._fast(odd) is None


# --- model statements: model-signing's document -----------------------------------------------


def test_statement_is_model_signings_payload_byte_for_byte() -> None:
    """model-signing's Payload printed by the pure-Python protobuf backend (the C backend
    randomises a Struct's key order per process): the same bytes."""
    script = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        from google.protobuf import json_format
        from model_signing import manifest as m
        from model_signing._hashing import hashing as h
        from model_signing._signing import signing as s
        out = []
        for name, digests, ser in json.loads(sys.stdin.read()):
            items = [m.FileManifestItem(path=Path(n), digest=h.Digest("sha256", bytes.fromhex(d)))
                     for n, d in digests.items()]
            serialization = m._FileSerialization("sha256", ser["allow_symlinks"],
                                                 [Path(p) for p in ser.get("ignore_paths", [])])
            payload = s.Payload(m.Manifest(name, items, serialization))
            out.append(json_format.MessageToJson(payload.statement.pb))
        print(json.dumps(out))
        """
    )
    env = {**os.environ, "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}
    data = json.dumps([[m.model_name, m.digests, m.serialization] for m in MANIFESTS])
    proc = subprocess.run([sys.executable, "-c", script], input=data, capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    theirs = json.loads(proc.stdout)
    assert [statement_payload(m).decode() for m in MANIFESTS] == theirs


def _statement_cases() -> list[bytes]:
    good = json.loads(statement_payload(MANIFESTS[1]))
    res = ("predicate", "resources")
    cases = [good]

    def mod(fn: Callable[[dict[str, Any]], None]) -> None:
        doc = copy.deepcopy(good)
        fn(doc)
        cases.append(doc)

    mod(lambda d: d["subject"][0]["digest"].update(sha256="00" * 32))  # inconsistent root digest
    mod(lambda d: d["subject"][0]["digest"].update(sha256=d["subject"][0]["digest"]["sha256"].upper()))
    mod(lambda d: _at(d, res)[0].update(digest=_at(d, res)[0]["digest"].upper()))
    mod(lambda d: _at(d, res)[0].update(algorithm="sha512"))
    mod(lambda d: _at(d, res)[0].update(name="./" + _at(d, res)[0]["name"]))
    mod(lambda d: _at(d, res)[1].update(name="a//b"))
    mod(lambda d: _at(d, res).append(dict(_at(d, res)[0])))  # duplicate name
    mod(lambda d: _at(d, res)[0].pop("name"))
    mod(lambda d: _at(d, res)[0].update(name=7))
    mod(lambda d: _at(d, res)[0].update(digest="zz"))
    mod(lambda d: d["subject"].append(d["subject"][0]))
    mod(lambda d: d["subject"][0].update(name=1))
    mod(lambda d: d.update(subject=[]))
    mod(lambda d: d.pop("subject"))
    mod(lambda d: d["predicate"].pop("resources"))
    mod(lambda d: d["predicate"].update(resources={}))
    mod(lambda d: d["predicate"].update(extra={"ignored": True}))
    mod(lambda d: d["predicate"]["serialization"].update(allow_symlinks="false"))
    mod(lambda d: d["predicate"]["serialization"].pop("allow_symlinks"))
    mod(lambda d: d["predicate"]["serialization"].update(ignore_paths="m.sig"))
    mod(lambda d: d["predicate"]["serialization"].update(ignore_paths=[]))
    mod(lambda d: d["predicate"]["serialization"].update(hash_type="blake2"))
    mod(lambda d: d["predicate"]["serialization"].update(method="shards"))
    mod(lambda d: d["predicate"]["serialization"].update(method="shards", shard_size=1024))
    mod(lambda d: d["predicate"]["serialization"].update(method="bogus"))
    mod(lambda d: d["predicate"].update(serialization=[]))
    return [json.dumps(c).encode() for c in cases]


def _parsed(payload: bytes, library: bool) -> Any:
    try:
        m = parse_statement(IN_TOTO, payload, library=library)
    except VerificationFailure as exc:
        return ("failure", exc.rule_id)
    except Exception as exc:
        return ("error", type(exc).__name__)
    return (m.model_name, m.digests, m.serialization)


def test_statement_reader_agrees_with_model_signing() -> None:
    cases = _statement_cases()
    outcomes = [(_parsed(c, False), _parsed(c, True)) for c in cases]
    for case, (ours, theirs) in zip(cases, outcomes, strict=True):
        assert ours == theirs, case.decode()
    kinds = {o[0][0] if isinstance(o[0][0], str) and o[0][0] in ("failure", "error") else "ok" for o in outcomes}
    assert kinds == {"ok", "failure", "error"}  # the corpus reaches every verdict
    for m in MANIFESTS:  # and what edgegate writes reads back as written
        assert _parsed(statement_payload(m), False) == (m.model_name, m.digests, m.serialization)


# --- what a key-mode command imports ----------------------------------------------------------


def _imports(args: list[str], cwd: Path) -> list[str]:
    code = textwrap.dedent(
        f"""
        import sys
        sys.argv = ["edgegate", *{args!r}]
        from edgegate.cli import main
        try:
            main()
        except SystemExit as exc:
            code = exc.code
        else:
            code = 0
        heavy = {HEAVY!r}
        print(code, sorted({{m.split('.')[0] for m in sys.modules}} & set(heavy)))
        """
    )
    env = {**os.environ, "EDGEGATE_KEY_PASSWORD": PASSWORD}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last == "0 []", (args, last, proc.stderr[-2000:])
    return [last]


def test_key_mode_sign_and_verify_import_no_heavy_module(tmp_path: Path, model_dir: Path, keypair) -> None:
    priv, pub = keypair
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"x")
    sig = tmp_path / "model.sig"
    for args in (
        ["sign", str(blob), "--key", str(priv)],
        ["verify", str(blob), "--key", str(pub)],
        ["sign", str(model_dir), "--key", str(priv), "-b", str(sig)],
        ["verify", str(model_dir), "--key", str(pub), "-b", str(sig)],
        ["sign", str(model_dir), "--key", str(priv), "-b", str(tmp_path / "again.sig"), "--since", str(sig)],
        ["sign", "keygen", "--private", str(tmp_path / "n.key"), "--public", str(tmp_path / "n.pub")],
    ):
        _imports(args, tmp_path)
    # and the signature it wrote is model-signing's: its own verifier accepts it
    import model_signing

    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=pub).verify(model_dir, sig)


def test_ignore_matcher_compares_path_components() -> None:
    from pathlib import PurePosixPath

    from edgegate.sign.hashing import _ignore_matcher

    def by_parts(name: str, ignore: list[str]) -> bool:  # the definition: a component prefix
        parts = PurePosixPath(name).parts
        return any(parts[: len(PurePosixPath(p).parts)] == PurePosixPath(p).parts for p in ignore)

    names = ["a", "a/b", "ab", "a-b", "a/b/c", ".git", ".git/HEAD", ".gitignore", "x.sig", "d/x.sig", "é/f"]
    for ignore in ([], [".git"], ["a/"], ["a/b"], ["x.sig", ".github"], ["."], ["./a"], ["/a"], ["é"]):
        for name in names:
            assert _ignore_matcher(ignore)(name) == by_parts(name, ignore), (name, ignore)
