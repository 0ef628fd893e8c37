#!/usr/bin/env bash
# `opa test policies/` with the OPA built from its Go module, and a coverage floor of 90%.
set -euo pipefail
opa=$(.venv/bin/python -c 'from grace_lab.localcluster.binaries import ensure_binaries; print(ensure_binaries().opa)')
"$opa" test policies/ -v | tail -n 3
"$opa" test policies/ --coverage --format=json | .venv/bin/python -c '
import json, sys
cov = json.load(sys.stdin)["coverage"]
print(f"opa test coverage: {cov:.1f}%")
sys.exit(0 if cov >= 90 else f"coverage {cov:.1f}% is below 90%")
'
