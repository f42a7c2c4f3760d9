"""An OCI image layout directory as an offline `ImageSource` (``--oci-dir``).

Tags are the ``org.opencontainers.image.ref.name`` annotations of ``index.json``: the full
reference (``registry.example.com/edge/app:1.0``), ``repository:tag``, or the bare tag, tried in
that order. cosign's signature and attestation tags (``sha256-<hex>.sig`` / ``.att``) and the
referrers fallback tag are looked up the same way; referrers are also found as manifests of the
index whose ``subject`` is the image. Every blob read is bounded and checked against its digest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from edgegate.admit.oci import MAX_MANIFEST, Manifest, fallback_tag, parse_manifest
from edgegate.errors import InputError
from edgegate.io.files import read_bounded
from edgegate.sbom.registry import Reference

REF_NAME = "org.opencontainers.image.ref.name"


class LayoutSource:
    """Images, signatures and attestations from one OCI layout directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        index = self.root / "index.json"
        if not (self.root / "oci-layout").is_file() or not index.is_file():
            raise InputError("not an OCI image layout (no oci-layout / index.json)", self.root)
        try:
            doc = json.loads(read_bounded(index, MAX_MANIFEST))
        except (ValueError, UnicodeDecodeError):
            raise InputError("index.json is not JSON", index) from None
        entries = doc.get("manifests") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise InputError("index.json lists no manifests", index)
        self.entries: list[dict[str, Any]] = [e for e in entries if isinstance(e, dict)]
        self.names: dict[str, str] = {}
        for e in self.entries:
            ann = e.get("annotations")
            name = ann.get(REF_NAME) if isinstance(ann, dict) else None
            if isinstance(name, str) and isinstance(e.get("digest"), str):
                self.names.setdefault(name, e["digest"])

    def _blob_path(self, digest: str) -> Path:
        algo, _, hex_ = digest.partition(":")
        if algo != "sha256" or len(hex_) != 64 or not all(c in "0123456789abcdef" for c in hex_):
            raise InputError(f"invalid digest {digest!r}", self.root)
        return self.root / "blobs" / "sha256" / hex_

    def manifest(self, ref: Reference, reference: str, *, missing_ok: bool = False) -> Manifest | None:
        if reference.startswith("sha256:"):
            digest: str | None = reference
        else:
            digest = None
            for name in (f"{ref.registry}/{ref.repository}:{reference}", f"{ref.repository}:{reference}", reference):
                if name in self.names:
                    digest = self.names[name]
                    break
        if digest is None or not self._blob_path(digest).is_file():
            if missing_ok:
                return None
            raise InputError(f"{ref.registry}/{ref.repository}:{reference} is not in the OCI layout", self.root)
        data = read_bounded(self._blob_path(digest), MAX_MANIFEST)
        return parse_manifest(data, f"{self.root}: {digest}", digest)

    def blob(self, ref: Reference, digest: str, max_bytes: int) -> bytes:
        path = self._blob_path(digest)
        if not path.is_file():
            raise InputError(f"blob {digest} is not in the OCI layout", self.root)
        data = read_bounded(path, max_bytes)
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise InputError(f"blob {digest} does not match its digest", self.root)
        return data

    def referrers(self, ref: Reference, digest: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        fallback = self.manifest(ref, fallback_tag(digest), missing_ok=True)
        if fallback is not None and isinstance(fallback.doc.get("manifests"), list):
            out.extend(d for d in fallback.doc["manifests"] if isinstance(d, dict))
        seen = {d.get("digest") for d in out}
        for e in self.entries:
            d = e.get("digest")
            if d in seen or not isinstance(d, str) or not self._blob_path(d).is_file():
                continue
            m = parse_manifest(read_bounded(self._blob_path(d), MAX_MANIFEST), str(self.root), d)
            subject = m.doc.get("subject")
            if isinstance(subject, dict) and subject.get("digest") == digest:
                out.append({"digest": d, "artifactType": m.doc.get("artifactType"), "mediaType": m.media_type})
                seen.add(d)
        return out
