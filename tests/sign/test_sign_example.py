"""The example edge app's signed model verifies with the [verify] snippet proposed for its
edgegate.toml, and with model_signing."""

from __future__ import annotations

from pathlib import Path

from edgegate.config import Config
from edgegate.findings import Status
from edgegate.sign.gate import run_from_config

SNIPPET = {
    "key": "signing/edgegate.pub",
    "artifacts": [{"path": "signing/tiny-classifier", "bundle": "signing/tiny-classifier.sig"}],
}


def test_example_model_verifies(root_dir: Path) -> None:
    app = root_dir / "examples" / "edge-app"
    [result] = run_from_config(SNIPPET, Config(path=None, root=app, data={}))
    assert result.status is Status.PASSED, result.to_dict()
    assert result.stats["verified"] == 1


def test_example_model_verifies_with_model_signing(root_dir: Path) -> None:
    import model_signing

    d = root_dir / "examples" / "edge-app" / "signing"
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=d / "edgegate.pub").verify(
        d / "tiny-classifier", d / "tiny-classifier.sig"
    )
