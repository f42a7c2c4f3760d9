"""The vulnerability gate: OSV records, per-ecosystem version order, an offline sqlite database,
purl matching, and a pip-audit bridge for online Python scans."""
