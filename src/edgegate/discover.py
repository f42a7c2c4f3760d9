"""What a repository holds, for `edgegate init` and the pre-commit hook: manifests, Helm charts,
model files, Python requirements, signatures and public keys.

The walk is bounded (entries visited, bytes read per file), skips hidden folders, virtual
environments and dependency folders, never follows symlinked folders and reads only the head of
regular files through `edgegate.io`. Nothing found is parsed as YAML or executed: a manifest is a
YAML/JSON file whose text has top-level ``apiVersion`` and ``kind`` keys.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from edgegate.errors import EdgegateError
from edgegate.io.files import read_head

MAX_ENTRIES = 50_000
HEAD_BYTES = 256 * 1024
MANIFEST_SUFFIXES = frozenset({".yaml", ".yml", ".json"})
DOCUMENT_SUFFIXES = MANIFEST_SUFFIXES | {".toml"}
"""What `edgegate policy lint` reads from a folder (its inputs, whether manifests or not)."""
MODEL_SUFFIXES = frozenset({
    ".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".bin", ".npy", ".npz", ".onnx",
    ".safetensors", ".gguf", ".h5", ".hdf5", ".keras", ".mar",
})
SIGNATURE_SUFFIXES = (".sigstore.json", ".sigstore", ".sig")
KEY_NAMES = ("cosign.pub", "edgegate.pub")
_SKIP_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "venv", "env", "dist", "build"})
_YAML_API = re.compile(rb"^apiVersion:[ \t]*\S", re.M)
_YAML_KIND = re.compile(rb"^kind:[ \t]*\S", re.M)
_JSON_API = re.compile(rb'"apiVersion"\s*:')
_JSON_KIND = re.compile(rb'"kind"\s*:')


@dataclass
class RepoScan:
    """What `scan_repo` found; paths are relative to `root`."""

    root: Path
    manifests: list[Path] = field(default_factory=list)
    templated: list[Path] = field(default_factory=list)
    """YAML with ``{{ }}`` outside a Helm chart: a template of some tool, not a manifest."""
    charts: list[Path] = field(default_factory=list)
    documents: list[Path] = field(default_factory=list)
    """Every YAML/JSON/TOML file outside charts (manifests or not)."""
    models: list[Path] = field(default_factory=list)
    requirements: list[Path] = field(default_factory=list)
    signatures: list[Path] = field(default_factory=list)
    keys: list[Path] = field(default_factory=list)
    truncated: bool = False
    """The walk stopped at `MAX_ENTRIES`."""


def is_helm_template(path: str | Path, stop: Path | None = None) -> bool:
    """Is `path` inside a Helm chart (a folder with Chart.yaml) other than the chart's own
    Chart.yaml / values files? Such files are Go templates: `helm template` renders them."""
    p = Path(path).resolve()
    top = stop.resolve() if stop is not None else None
    for folder in p.parents:
        if (folder / "Chart.yaml").is_file():
            return True
        if folder == top or (folder / ".git").exists():
            break
    return False


def helm_template_chart(path: str | Path) -> Path | None:
    """The chart folder when `path` is one of a Helm chart's templates (under a ``templates``
    folder beside a ``Chart.yaml``, subcharts included): Go template text, which only
    `helm template` turns into manifests. None for anything else (Chart.yaml, values files)."""
    named = _folder_chart(os.path.dirname(os.path.abspath(path)))  # the path as given (a symlink in templates/)
    real = _folder_chart(os.path.dirname(os.path.realpath(path)))  # where it is (a link to a template)
    return named or real


@functools.lru_cache(maxsize=4096)
def _folder_chart(folder: str) -> Path | None:
    """`helm_template_chart` for the files of `folder` (once per folder: a lint of 10,000 files in
    a few folders looks at each folder once). Helm follows symlinks in a chart, so the caller asks
    for the folder as named and as resolved. No stop at a ``.git``: a submodule inside
    ``templates/`` is still the chart's."""
    here = Path(folder)
    if here.name == "templates" and (here.parent / "Chart.yaml").is_file():
        chart = here.parent
        while chart.parent.name == "charts" and (chart.parent.parent / "Chart.yaml").is_file():
            chart = chart.parent.parent  # a subchart renders with its parent chart
        return chart
    return None if here.parent == here else _folder_chart(str(here.parent))


def scan_repo(root: str | Path) -> RepoScan:
    """Walk `root` and sort what it holds."""
    base = Path(root)
    if not base.is_dir():
        raise EdgegateError("no such directory", base)
    out = RepoScan(root=base)
    seen = 0
    for folder, dirs, files in os.walk(base, followlinks=False):
        here = Path(folder)
        rel_dir = here.relative_to(base)
        if "Chart.yaml" in files and here != base:
            out.charts.append(rel_dir)
            dirs[:] = []
            continue
        if (here / "pyvenv.cfg").is_file():
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
        for name in sorted(files):
            seen += 1
            if seen > MAX_ENTRIES:
                out.truncated = True
                return out
            if name.startswith("."):
                continue
            _classify(out, here / name, rel_dir / name)
    return out


def _classify(out: RepoScan, path: Path, rel: Path) -> None:
    if path.is_symlink() or not path.is_file():
        return
    name = rel.name.lower()
    suffix = rel.suffix.lower()
    if name.endswith(SIGNATURE_SUFFIXES):
        out.signatures.append(rel)
        return
    if name in KEY_NAMES or (suffix == ".pub" and "key" in name):
        out.keys.append(rel)
        return
    if re.fullmatch(r"requirements[\w.-]*\.txt", name):
        out.requirements.append(rel)
        return
    if suffix in MODEL_SUFFIXES:
        out.models.append(rel)
        return
    if suffix not in DOCUMENT_SUFFIXES:
        return
    out.documents.append(rel)
    if suffix == ".toml":
        return
    try:
        head = read_head(path, HEAD_BYTES)
    except EdgegateError:
        return
    if suffix == ".json":
        if _JSON_API.search(head) and _JSON_KIND.search(head):
            out.manifests.append(rel)
    elif _YAML_API.search(head) and _YAML_KIND.search(head):
        if b"{{" in head:
            out.templated.append(rel)
        else:
            out.manifests.append(rel)


def covering_paths(wanted: Iterable[Path], everything: Iterable[Path]) -> list[Path]:
    """Few paths that cover every file of `wanted` and nothing else of `everything`: for each
    wanted file the highest folder below the root whose files (of `everything`) are all wanted,
    else the file itself."""
    want = set(wanted)
    bad_dirs: set[Path] = set()
    for f in everything:
        if f not in want:
            bad_dirs.update(p for p in f.parents if p != Path("."))
    chosen: set[Path] = set()
    for f in sorted(want):
        pick = f
        for parent in f.parents:
            if parent == Path("."):
                break
            if parent in bad_dirs:
                break
            pick = parent
        chosen.add(pick)
    return sorted(p for p in chosen if not any(q != p and q in p.parents for q in chosen))


def top_folders(files: Iterable[Path]) -> list[Path]:
    """The folders holding `files`, without any folder inside another one listed."""
    folders = {f.parent if f.parent != Path(".") else f for f in files}
    return sorted(p for p in folders if not any(q != p and q in p.parents for q in folders))
