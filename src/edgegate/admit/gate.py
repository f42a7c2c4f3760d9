"""`[admit]` in edgegate.toml → the same `admit` the `edgegate admit` command runs.

```toml
[admit]
paths = ["manifests"]
mirrors = { "registry.example.com" = "localhost:5000" }   # where each registry is served
insecure = true                                           # plain HTTP, localhost only
platform = "linux/amd64"
jobs = 8

[[admit.policy]]
name = "ours"
images = ["registry.example.com/edge/**"]
keys = ["signing/cosign.pub"]
mode = "enforce"
attestations = [{ predicate-type = "https://slsa.dev/provenance/v1", rules = ["policy/provenance"] }]

[admit.vuln]            # optional: scan the admitted images (keys as in [vuln])
db = "vuln/osv"
fail-on = "high"
sbom = "attested-or-build"   # build (default) | attested | attested-or-build
```

``EDGEGATE_ADMIT_MIRRORS`` (``host=mirror,host=mirror``) adds mirrors from the environment,
overriding the file (a CI job that starts its own mirror on a free port).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from edgegate.admit.policy import policies_from_config
from edgegate.admit.verify import AdmitOptions, admit_results
from edgegate.config import Config
from edgegate.errors import ConfigError
from edgegate.findings import GateResult

MIRRORS_ENV = "EDGEGATE_ADMIT_MIRRORS"


def parse_mirrors(values: list[str]) -> dict[str, str]:
    """``host=mirror`` items → a mapping; a malformed item is a `ConfigError`."""
    out = {}
    for item in values:
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            host, sep, mirror = part.partition("=")
            if not sep or not host.strip() or not mirror.strip():
                raise ConfigError(f"mirror {part!r} is not HOST=MIRROR (e.g. registry.example.com=localhost:5000)")
            out[host.strip()] = mirror.strip()
    return out


def env_mirrors() -> dict[str, str]:
    value = os.environ.get(MIRRORS_ENV)
    return parse_mirrors([value]) if value else {}


def options_from_config(section: Mapping[str, Any], config: Config) -> AdmitOptions:
    mirrors = {str(k): str(v) for k, v in dict(section.get("mirrors", {})).items()}
    mirrors.update(env_mirrors())
    oci_dir = section.get("oci-dir")
    vuln = None
    if isinstance(section.get("vuln"), dict):
        from edgegate.vuln.gate import settings_from_section

        vuln = settings_from_section(section["vuln"], config)
    from edgegate.admit.vuln import sbom_mode

    sbom = sbom_mode(section["vuln"].get("sbom", "build") if isinstance(section.get("vuln"), dict) else "build")
    sbom_dir = section.get("sbom-dir")
    return AdmitOptions(
        vuln=vuln,
        sbom_dir=config.resolve(sbom_dir) if sbom_dir else None,
        sbom=sbom,
        policies=policies_from_config(section.get("policy", []), config.resolve),
        insecure=bool(section.get("insecure", False)),
        mirrors=mirrors,
        oci_dir=config.resolve(oci_dir) if oci_dir else None,
        platform=str(section.get("platform", "linux/amd64")),
        jobs=int(section.get("jobs", 8)),
        instance=str(section.get("instance", "production")),
        offline=bool(section.get("offline", True)),
    )




def run_from_config(section: Mapping[str, Any], config: Config) -> list[GateResult]:
    paths = [config.display_path(p) for p in section.get("paths", ["."])]
    return admit_results(paths, options_from_config(section, config))
