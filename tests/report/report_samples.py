"""Hand-built gate results shared by the reporter tests (imported as a plain module)."""

from __future__ import annotations

from edgegate.findings import Finding, GateResult, Location, Severity, Status

TRICKY = "100% sure: a, b\r\nnext line <b>&</b> | `tick` [red]markup[/red] ::error::x"
UNICODE = "modèle facial-recognition-v3 interdit — 顔認識 ✓"


def policy_result() -> GateResult:
    """A failed policy gate: every severity, a warning, findings with and without locations."""
    findings = [
        Finding(
            "policy",
            "EGP001",
            Severity.CRITICAL,
            "model facial-recognition-v3 is prohibited by ai-alignment-policy-vision-sensitive",
            Location("k8s/edge-ai.yaml", 7, 3, "/spec/modelRef/name"),
            title="Model on the deny list",
        ),
        Finding(
            "policy",
            "EGP002",
            Severity.HIGH,
            "container 'web' image nginx:latest is not pinned by digest",
            Location("k8s/deployment.yaml", 21, 18, "/spec/template/spec/containers/0/image"),
            title="Image pinned by digest",
        ),
        Finding(
            "policy",
            "EGP002",
            Severity.HIGH,
            "container 'sidecar' image envoy:v1 is not pinned by digest",
            Location("k8s/deployment.yaml", 30, 18, "/spec/template/spec/containers/1/image"),
            title="Image pinned by digest",
        ),
        Finding(
            "policy",
            "EGP003",
            Severity.MEDIUM,
            TRICKY,
            Location("k8s/deployment.yaml", 12),
            title="Resource limits set",
        ),
        Finding(
            "policy",
            "EGP004",
            Severity.LOW,
            "annotation finops.acme/cost-center is missing",
            Location("k8s/knative service.yaml", 4),
            blocking=False,
            title="Cost annotations present",
        ),
        Finding("policy", "EGP005", Severity.INFO, UNICODE, Location("k8s/edge-ai.yaml", 2)),
        Finding("policy", "EGP006", Severity.MEDIUM, "no location at all", blocking=True),
    ]
    return GateResult.decide("policy", findings, stats={"documents": 4, "seconds": 0.25})


def cost_result() -> GateResult:
    """A passed gate with a table and no findings."""
    return GateResult.decide(
        "cost",
        [],
        stats={
            "tables": [
                {
                    "title": "Cost per workload",
                    "columns": ["workload", "USD/month", "within cap"],
                    "rows": [
                        ["vision-analytics", 412.5, True],
                        ["a|b <script>", None, False],
                        ["ratio", 1 / 3, True],
                    ],
                }
            ],
            "workloads": 3,
        },
    )


def vuln_error_result() -> GateResult:
    """An errored gate that still has a (non-blocking) finding."""
    return GateResult.decide(
        "vuln",
        [
            Finding(
                "vuln",
                "PYSEC-2021-66",
                Severity.HIGH,
                "pillow 8.0.0 is affected (fixed in 8.1.1)",
                Location("requirements.txt", 3),
                blocking=False,
            )
        ],
        errors=["cannot read the advisory database: db/osv.sqlite: no such file"],
    )


def warn_only_result() -> GateResult:
    """A passed gate with only warnings (one blocking finding below fail_on)."""
    return GateResult.decide(
        "model-scan",
        [
            Finding(
                "model-scan",
                "EGM010",
                Severity.LOW,
                "pickle imports collections.OrderedDict (allowed)",
                Location("models/tiny.pt"),
            ),
            Finding(
                "model-scan",
                "EGM011",
                Severity.INFO,
                "safetensors header is 1,024 bytes",
                Location("models/tiny.safetensors"),
                blocking=False,
            ),
        ],
        fail_on=Severity.HIGH,
    )


def all_results() -> list[GateResult]:
    return [policy_result(), cost_result(), vuln_error_result(), warn_only_result()]


def passing_results() -> list[GateResult]:
    return [cost_result(), GateResult("sbom", Status.PASSED, stats={"components": 12})]
