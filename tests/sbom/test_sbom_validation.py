"""edgegate's CycloneDX 1.6 validator (jsonschema-rs over the schemas cyclonedx-python-lib ships)
against cyclonedx-python-lib's own strict validator (jsonschema), its peer: the same verdict on
SBOMs edgegate generates and on every mutation of them drawn here (a field removed, a wrong type,
an unknown property, a bad enum value or format, a duplicated item).

One-off, not in the suite: the CycloneDX specification's own 1.6 test documents
(tools/src/test/resources/1.6, 70 valid-*/invalid-* files, commit e02a34ae) gave the expected
verdict under both validators (2026-12-04).
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from sbom_helpers import DPKG_STATUS, OS_RELEASE, E, docker_archive, layer_tar

from edgegate.sbom.api import image_sbom, python_sbom
from edgegate.sbom.bom import validate_text

_BAD_VALUES: list[Any] = [None, 1, -1, 1.5, True, "", "x", "not a date", "http://[::1", "a b c", [], {}, ["x"], {"x": 1}]


def _paths(doc: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*here, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*here, i))
    return out


def _mutate(doc: dict[str, Any], rnd: random.Random) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    path = rnd.choice(_paths(doc)[1:])
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    key = path[-1]
    how = rnd.randrange(4)
    if how == 0 and isinstance(parent, dict):
        del parent[key]
    elif how == 1 and isinstance(parent, dict):
        parent["x-unknown-" + str(key)] = parent[key]
    elif how == 2 and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))
    else:
        parent[key] = rnd.choice(_BAD_VALUES)
    return doc


def _documents(tmp_path: Path) -> list[dict[str, Any]]:
    npm = json.dumps({"name": "left-pad", "version": "1.3.0", "license": "MIT"}).encode()
    layer = layer_tar([E("etc/os-release", data=OS_RELEASE), E("var/lib/dpkg/status", data=DPKG_STATUS),
                       E("usr/lib/node_modules/left-pad/package.json", data=npm)])
    image = tmp_path / "image.json"
    image_sbom(str(docker_archive(tmp_path / "img.tar", [layer])), image)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "requirements.txt").write_text("requests==2.31.0\nnumpy==1.26.4 ; python_version >= '3.9'\n")
    py = tmp_path / "py.json"
    python_sbom(project, py)
    return [json.loads(image.read_text()), json.loads(py.read_text())]


def test_generated_sboms_are_valid_for_both_validators(tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    peer = JsonStrictValidator(SchemaVersion.V1_6)
    for doc in _documents(tmp_path):
        text = json.dumps(doc)
        assert validate_text(text) is None
        assert peer.validate_str(text) is None


@pytest.mark.parametrize("seed", range(4))
def test_mutated_sboms_get_the_peers_verdict(tmp_path: Path, seed: int) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    peer = JsonStrictValidator(SchemaVersion.V1_6)
    rnd = random.Random(seed)
    refused = 0
    for doc in _documents(tmp_path):
        for _ in range(60):
            text = json.dumps(_mutate(doc, rnd))
            ours, theirs = validate_text(text), peer.validate_str(text)
            assert (ours is None) == (theirs is None), (text[:2000], ours, theirs)
            refused += ours is not None
    assert refused >= 30  # the mutations are mostly invalid: the comparison is not vacuous


def test_the_error_names_where_and_which_keyword() -> None:
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
           "components": [{"type": "library", "name": "a"}, {"type": "library", "name": "a"}]}
    message = validate_text(json.dumps(doc))
    assert message is not None and message.startswith("/components: ") and message.endswith("(uniqueItems)")
    doc["components"] = [{"type": "no-such-type", "name": "a"}]
    message = validate_text(json.dumps(doc))
    assert message is not None and message.startswith("/components/0/type: ")


_BASE = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1}


@pytest.mark.parametrize("text, why", [
    (json.dumps({**_BASE, "components": [{"type": "library", "name": "a", "x": json.loads("[" * 300 + "]" * 300)}]}),
     "deep"),  # jsonschema-rs raises ValueError building this error
    ('{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "\\udc80": 1}', "surrogate"),
    ('{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": NaN}', "NaN"),
    ("[" * 100_000 + "]" * 100_000, "deep"),  # json.loads raises RecursionError
    # re-review: these passed. A key given twice means two documents (Python and Go keep the
    # last, other readers the first); a surrogate where no schema keyword looks is still not text
    ('{"bomFormat": "CycloneDX", "specVersion": "9.9", "specVersion": "1.6", "version": 1}', "duplicate"),
    ('{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": [{"type": "library", '
     '"name": "\\ud800x"}]}', "surrogate"),
])
def test_hostile_documents_are_invalid_never_a_crash(text: str, why: str) -> None:
    """Found by review: each was an internal error (exit 2) instead of an invalid SBOM."""
    message = validate_text(text)
    assert message is not None and message.strip()


def test_a_duplicate_item_is_named() -> None:
    doc = {**_BASE, "components": [{"type": "library", "name": f"p{i}"} for i in range(50)]}
    doc["components"].append({"type": "library", "name": "p7"})
    message = validate_text(json.dumps(doc))
    assert message is not None and '"p7"' in message and '"p8"' not in message


# Where the two validators disagree, edgegate's is the one that follows the specifications (each
# case checked by hand; generated SBOMs never hold these values): JSON Schema patterns are
# ECMA-262, where "$" does not match before a final newline (Python's re, which jsonschema uses,
# does); idn-email is RFC 6531, one mailbox (jsonschema only looks for an "@").
@pytest.mark.parametrize("doc", [
    {**_BASE, "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79\n"},
    {**_BASE, "metadata": {"authors": [{"name": "a", "email": "a@b.com, c@d.com"}]}},
])
def test_refused_by_edgegate_accepted_by_the_peer(doc: dict[str, Any]) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = json.dumps(doc)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    assert validate_text(text) is not None
