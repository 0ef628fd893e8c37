#!/usr/bin/env bash
# Debian packages a real node needs (`grace cluster up --real-node`, the real-node e2e tier,
# `make image`): containerd + runc + the CNI plugins run the pods, buildah builds the images
# without a registry or a daemon, debootstrap makes the local Debian base image, iptables and
# conntrack serve kube-proxy. Idempotent: installs only what is missing, starts no service.
# Skipped with one line where a real node cannot run (not root, or Docker's containerd.io owns
# containerd: use kind there).
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "real node: skipped (needs root; the suite then runs on KWOK nodes only)" >&2
  exit 0
fi
if dpkg-query -W -f='${Status}' containerd.io 2>/dev/null | grep -q 'ok installed'; then
  echo "real node: skipped (Docker's containerd.io is installed; use kind on this machine)" >&2
  exit 0
fi
declare -A pkg_for=(
  [containerd]=containerd [runc]=runc [buildah]=buildah [debootstrap]=debootstrap
  [iptables]=iptables [conntrack]=conntrack [ip]=iproute2
)
need=()
for cmd in "${!pkg_for[@]}"; do command -v "$cmd" >/dev/null || need+=("${pkg_for[$cmd]}"); done
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing Debian packages for the real node: ${need[*]}" >&2
# shellcheck source=lib/apt-install.sh
. "$(dirname "$0")/lib/apt-install.sh"
apt_install "${need[@]}"
