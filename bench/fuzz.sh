#!/usr/bin/env bash
# The long fuzz run: the property-based tests of tests/core/test_core_fuzz.py with a large budget
# (default 5,000 examples per property; the normal test run uses 40). Usage: bench/fuzz.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
EDGEGATE_FUZZ_EXAMPLES=${1:-5000} exec .venv/bin/pytest -q -m fuzz -p no:cacheprovider tests/core/test_core_fuzz.py tests/model/test_model_scan_hostile_fuzz.py tests/policy/test_policy_modules_fuzz.py tests/sbom/test_sbom_walker_fuzz.py
