# Sourced by hack/*-deps.sh: install Debian packages without starting their services.
# apt_install PKG...: a policy-rc.d that denies service starts is put in place for the install
# (when none exists: an existing one is left alone) and removed again, whatever happens.
# GRACE_POLICY_RC_D overrides its path (tests/unit/test_system_deps.py).
apt_install() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  _grace_policy=${GRACE_POLICY_RC_D:-/usr/sbin/policy-rc.d}
  _grace_policy_created=0
  if [ ! -e "$_grace_policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$_grace_policy" >/dev/null
    $sudo chmod +x "$_grace_policy"
    _grace_policy_created=1
  fi
  # An EXIT trap's status becomes the script's: it must end in 0 when there is nothing to undo.
  trap 'if [ "$_grace_policy_created" = 1 ]; then '"$sudo"' rm -f "$_grace_policy"; fi' EXIT
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q >/dev/null || true
  $sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null
}
