"""Every container image a set of manifests names, with the file, line and JSON pointer.

Containers are found wherever a Pod spec can appear (``containers``, ``initContainers`` and
``ephemeralContainers`` lists at any depth: Pods, every workload kind, CronJobs' job templates,
Knative Services/Configurations/Revisions, ``List`` objects), plus ``spec.image`` of an
``EdgeAIDeployment``. Walking by shape rather than by kind means an unknown workload kind is
still checked, never silently skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgegate.io.documents import Document, pointer_of

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_MAX_DEPTH = 64


@dataclass(frozen=True)
class ImageUse:
    """One place a manifest names an image."""

    image: str
    """The reference as written (``registry/repo:tag``, ``repo@sha256:…``)."""
    path: str
    line: int
    pointer: str
    kind: str
    name: str

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def _walk(value: Any, pointer: list[Any], depth: int = 0) -> Iterator[tuple[list[Any], str]]:
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, dict):
        for key, child in value.items():
            if key in CONTAINER_LISTS and isinstance(child, list):
                for i, c in enumerate(child):
                    if isinstance(c, dict) and isinstance(c.get("image"), str):
                        yield [*pointer, key, i, "image"], c["image"]
            yield from _walk(child, [*pointer, key], depth + 1)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _walk(child, [*pointer, i], depth + 1)


def images_in_document(doc: Document) -> list[ImageUse]:
    """The image references one document names, in document order."""
    data = doc.data
    if not isinstance(data, dict):
        return []
    kind = str(data.get("kind") or "")
    meta = data.get("metadata")
    name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
    found = list(_walk(data, []))
    spec = data.get("spec")
    if kind == "EdgeAIDeployment" and isinstance(spec, dict) and isinstance(spec.get("image"), str):
        found.append((["spec", "image"], spec["image"]))
    out = []
    for path, image in found:
        pointer = pointer_of(path)
        out.append(ImageUse(image.strip(), doc.path, doc.line_of(pointer), pointer, kind, name))
    return out


def collect_images(documents: Iterable[Document]) -> list[ImageUse]:
    """Every image use in `documents`."""
    return [use for doc in documents for use in images_in_document(doc)]


def load_manifest_documents(paths: Sequence[str | Path]) -> list[Document]:
    """Every document in `paths` (files, or folders searched for YAML/JSON)."""
    from edgegate.policy.lint import load_inputs

    return load_inputs(paths)
