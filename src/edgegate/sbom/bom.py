"""CycloneDX 1.6 documents: built with cyclonedx-python-lib, validated, written atomically."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgegate import __version__
from edgegate.errors import EngineError, InputError

if TYPE_CHECKING:
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component

    from edgegate.sbom.image import ImageInfo
    from edgegate.sbom.packages import OSInfo, Package

MAX_SBOM_BYTES = 512 * 1024 * 1024


def new_bom(subject: Component) -> Bom:
    """An empty BOM whose metadata names edgegate as the tool and `subject` as the component."""
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType

    bom = Bom()
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="edgegate", version=__version__)
    )
    bom.metadata.component = subject
    return bom


def properties(values: Mapping[str, str | None]) -> list[Any]:
    """CycloneDX properties for the non-empty values."""
    from cyclonedx.model import Property

    return [Property(name=k, value=v) for k, v in values.items() if v]


def licenses_for(names: Iterable[str]) -> list[Any]:
    """Licences as SPDX ids, SPDX expressions or plain names (cyclonedx's factory decides)."""
    from cyclonedx.contrib.license.factories import LicenseFactory

    factory = LicenseFactory()
    out: list[Any] = []
    for name in names:
        name = name.strip()
        if name:
            try:
                out.append(factory.make_from_string(name))
            except Exception:
                from cyclonedx.model.license import DisjunctiveLicense

                out.append(DisjunctiveLicense(name=name[:1000]))
    from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression

    # a lone word that is not an SPDX id (e.g. Debian's "GPL") is a licence name, not an expression
    out = [
        DisjunctiveLicense(name=x.value)
        if isinstance(x, LicenseExpression) and " " not in x.value.strip()
        else x
        for x in out
    ]
    # an expression must be the only licence entry in CycloneDX 1.6

    if len(out) > 1 and any(isinstance(x, LicenseExpression) for x in out):
        out = [x if not isinstance(x, LicenseExpression) else DisjunctiveLicense(name=x.value) for x in out]
    return out


def package_component(pkg: Package, bom_ref: str) -> Component:
    """A library component for a catalogued package."""
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL

    props = {
        "edgegate:package:type": pkg.ecosystem,
        "edgegate:location:path": pkg.location,
        "edgegate:location:layer": pkg.layer,
        **pkg.properties,
    }
    return Component(
        type=ComponentType.LIBRARY,
        name=pkg.name,
        version=pkg.version or None,
        purl=PackageURL.from_string(pkg.purl) if pkg.purl else None,
        bom_ref=bom_ref,
        licenses=licenses_for(pkg.licenses),
        properties=properties(props),
        publisher=pkg.supplier,
    )


def add_packages(bom: Bom, packages: Iterable[Package], parent: Component) -> int:
    """Add one component per package (unique bom-refs) with `parent` depending on each.

    Components and dependencies are added in one batch each (the library's sorted sets still
    sort them through tuples of every field: ~1 s of CPU for 2,000 packages, not reduced yet)."""
    from cyclonedx.model.dependency import Dependency

    seen: dict[str, int] = {}
    comps = []
    for pkg in packages:
        base = pkg.purl or f"local:{pkg.ecosystem}/{pkg.name}@{pkg.version}"
        n = seen.get(base, 0)
        seen[base] = n + 1
        ref = base if n == 0 else f"{base}#{n}"
        comps.append(package_component(pkg, ref))
    comps.sort(key=lambda c: (c.name, c.version or "", c.bom_ref.value or ""))
    bom.components.update(comps)
    by_ref = sorted(comps, key=lambda c: c.bom_ref.value or "")
    bom.dependencies.update(
        [
            Dependency(ref=parent.bom_ref, dependencies=[Dependency(ref=c.bom_ref) for c in by_ref]),
            *(Dependency(ref=c.bom_ref) for c in by_ref),
        ]
    )
    return len(comps)


def _registered_once(bom: Bom) -> None:
    """Make `bom.validate()` (which the JSON writer calls) linear for this BOM.

    Its first step calls ``register_dependency(target)`` for every component, each a scan of all
    dependencies (quadratic: 1.2 s of CPU for 2,000 components). Every component added here
    already has its dependency entry, and for such a target without new dependencies the
    library's method does nothing; this instance's method returns at once for those and defers
    to the library for anything else."""
    refs = {d.ref.value for d in bom.dependencies}
    library = bom.register_dependency

    def register(target: Any, depends_on: Any = None) -> None:
        if not depends_on and target.bom_ref.value in refs:
            return
        library(target, depends_on)

    bom.register_dependency = register  # type: ignore[method-assign]


def image_bom(info: ImageInfo, os_info: OSInfo | None, packages: list[Package]) -> Bom:
    """The SBOM of an image: the container (metadata), its OS and its packages."""
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.component import Component, ComponentType

    rt = info.runtime
    env_names = sorted({str(e).split("=", 1)[0] for e in rt.get("Env") or [] if isinstance(e, str)})
    hashes = []
    if info.image_id and info.image_id.startswith("sha256:"):
        hashes.append(HashType(alg=HashAlgorithm.SHA_256, content=info.image_id[7:]))
    props = {
        "edgegate:image:source-kind": info.kind,
        "edgegate:image:manifest-digest": info.manifest_digest,
        "edgegate:image:id": info.image_id,
        "edgegate:image:platform": info.platform,
        "edgegate:image:entrypoint": json.dumps(rt.get("Entrypoint")) if rt.get("Entrypoint") else None,
        "edgegate:image:cmd": json.dumps(rt.get("Cmd")) if rt.get("Cmd") else None,
        "edgegate:image:user": str(rt.get("User")) if rt.get("User") else None,
        "edgegate:image:workdir": str(rt.get("WorkingDir")) if rt.get("WorkingDir") else None,
        "edgegate:image:env-names": ",".join(env_names) or None,
    }
    for i, layer in enumerate(info.layers):
        props[f"edgegate:image:layer:{i}"] = layer.digest
    name = info.name or info.source
    subject = Component(
        type=ComponentType.CONTAINER,
        name=name,
        version=info.manifest_digest or info.image_id,
        bom_ref="image",
        hashes=hashes,
        properties=properties(props),
    )
    bom = new_bom(subject)
    members: list[Package] = list(packages)
    if os_info is not None:
        os_comp = Component(
            type=ComponentType.OPERATING_SYSTEM,
            name=os_info.id,
            version=os_info.version_id,
            description=os_info.pretty_name,
            bom_ref=f"os:{os_info.distro}",
            properties=properties(
                {"edgegate:location:layer": os_info.layer, "edgegate:os:codename": os_info.version_codename}
            ),
        )
        bom.components.add(os_comp)
        from cyclonedx.model.dependency import Dependency

        bom.dependencies.add(Dependency(ref=os_comp.bom_ref))
        add_packages(bom, members, subject)
        # the container also depends on its OS
        for dep in bom.dependencies:
            if dep.ref == subject.bom_ref:
                dep.dependencies.add(Dependency(ref=os_comp.bom_ref))
    else:
        add_packages(bom, members, subject)
    _registered_once(bom)
    return bom


def render(bom: Bom, patch: Callable[[dict[str, Any]], None] | None = None) -> str:
    """Serialise `bom` as CycloneDX 1.6 JSON, apply `patch` to the document (for fields the
    library does not model, e.g. ``modelCard``), and validate the result strictly."""
    from cyclonedx.output.json import JsonV1Dot6

    text = JsonV1Dot6(bom).output_as_string(indent=2)
    if patch is not None:
        doc = json.loads(text)
        patch(doc)
        text = json.dumps(doc, indent=2, ensure_ascii=False)
    errors = validate_text(text)
    if errors:
        raise EngineError(f"generated SBOM does not validate against CycloneDX 1.6: {errors}")
    return text + "\n"


def validate_text(text: str) -> str | None:
    """None when `text` is a valid CycloneDX 1.6 JSON document, else the first error: where
    (a JSON pointer), what, and the schema keyword that refused it."""
    doc, problem = _parse(text)
    return problem if problem is not None else _validate(doc)


_SURROGATE = "a string or key holds an unpaired surrogate (\\ud800-\\udfff): not Unicode text"


def _parse(text: str) -> tuple[Any, str | None]:
    """The document, or why it is not one: duplicate keys (parsers disagree on which wins),
    NaN/Infinity and unpaired surrogates are not JSON text a CycloneDX reader can trust."""
    from edgegate.io.parse import DuplicateKeyError, lone_surrogate, unique_keys

    try:
        doc = json.loads(text, parse_constant=_no_constant, object_pairs_hook=unique_keys)
    except RecursionError:
        return None, "nested too deeply to validate"
    except DuplicateKeyError as exc:
        return None, str(exc)
    except ValueError as exc:
        return None, f"not JSON ({exc})"
    if lone_surrogate(doc, text):
        return None, _SURROGATE
    return doc, None


def _validate(doc: Any) -> str | None:
    try:
        err = next(iter(_validator().iter_errors(doc)), None)
    except UnicodeEncodeError:  # `_parse` finds these first; kept in case the validator meets another
        return _SURROGATE
    except ValueError:  # jsonschema-rs: "Recursion limit reached" on a deep failing value
        return "nested too deeply to validate"
    if err is None:
        return None
    where = "/" + "/".join(str(p) for p in err.instance_path)
    keyword = err.schema_path[-1] if err.schema_path else "schema"
    message = _duplicate(err.instance) if keyword == "uniqueItems" else None
    return f"{where}: {message or str(err.message)[:400]} ({keyword})"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _duplicate(items: Any) -> str | None:
    """Which item of `items` occurs twice (the validator's message is the whole array)."""
    if not isinstance(items, list):
        return None
    seen: set[str] = set()
    for item in items:
        key = json.dumps(item, sort_keys=True)
        if key in seen:
            return f"{key[:300]} occurs more than once"
        seen.add(key)
    return None


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    """One strict CycloneDX 1.6 JSON validator per process: the schema cyclonedx-python-lib ships
    (and the SPDX, JSF and cryptography schemas it references), every ``format`` checked,
    compiled by jsonschema-rs. jsonschema (cyclonedx-python-lib's own validator) takes seconds to
    import where ``rfc3987-syntax`` is installed, checks a format only when its optional library
    is, and is quadratic on ``uniqueItems`` over objects; the tests hold this validator to it."""
    import jsonschema_rs
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.schema._res import BOM_JSON_STRICT, CRYPTOGRAPHY_DEFS, JSF, SPDX_JSON

    def load(path: str | None) -> Any:
        if path is None:
            raise EngineError("cyclonedx-python-lib has no CycloneDX 1.6 JSON schema")
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)

    prefix = "http://cyclonedx.org/schema/"
    registry = jsonschema_rs.Registry([
        (f"{prefix}spdx.SNAPSHOT.schema.json", load(SPDX_JSON)),
        (f"{prefix}cryptography-defs.SNAPSHOT.schema.json", load(CRYPTOGRAPHY_DEFS)),
        (f"{prefix}jsf-0.82.SNAPSHOT.schema.json", load(JSF)),
    ])
    return jsonschema_rs.Draft7Validator(load(BOM_JSON_STRICT[SchemaVersion.V1_6]), registry=registry, validate_formats=True)


def validate_file(path: Path) -> str | None:
    """None when the file is a valid CycloneDX 1.6 JSON SBOM, else why not."""
    from edgegate.io.files import read_bounded

    try:
        text = read_bounded(path, MAX_SBOM_BYTES).decode("utf-8")
    except InputError as exc:
        return exc.message
    except UnicodeDecodeError:
        return "not UTF-8 text"
    doc, problem = _parse(text)
    if problem is not None:
        return problem
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        return "not a CycloneDX document"
    return _validate(doc)


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` by `edgegate.io.output`'s rules (whole, or through to a device)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError("output folder does not exist", folder)
    from edgegate.io.output import write_output

    write_output(path, text, "the SBOM")
