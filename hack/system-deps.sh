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
echo "installing Debian packages: ${need[*]}" >&2
# shellcheck source=lib/apt-install.sh
. "$(dirname "$0")/lib/apt-install.sh"
apt_install "${need[@]}"
