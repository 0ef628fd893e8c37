#!/usr/bin/env bash
# Debian packages the test suite and the demo need: a real Prometheus, Alertmanager (for the
# detection benchmark's baseline) and a Lua interpreter (Argo CD health-check tests).
# Idempotent; installs only what is missing. Services are not started (policy-rc.d denies it).
set -euo pipefail
need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v lua5.4 >/dev/null || need+=(lua5.4)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
echo "installing Debian packages: ${need[*]}" >&2
policy=${GRACE_POLICY_RC_D:-/usr/sbin/policy-rc.d}  # overridable for tests/unit/test_system_deps.py
created=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created=1
fi
cleanup() { if [ "$created" = 1 ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null || true
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
