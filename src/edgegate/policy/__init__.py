"""The policy gate: conftest-compatible Rego rules and JSON Schemas over deployment manifests."""
