#!/usr/bin/env bash
# Load every image the suite names (tests/data/kind-images.txt) into a kind cluster, as the
# pause image under each name: kind's kubelet must find an image for every pod, and no test
# depends on what runs inside (the simulated shop reads only the image tag).
# Usage: hack/kind-images.sh [KIND_CLUSTER_NAME]   (default: grace)
set -euo pipefail
cd "$(dirname "$0")/.."
cluster="${1:-grace}"
pause=registry.k8s.io/pause@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a # 3.10
mapfile -t images < <(grep -v -e '^#' -e '^$' tests/data/kind-images.txt)
docker pull -q "$pause"
for image in "${images[@]}"; do
  docker tag "$pause" "$image"
done
kind load docker-image --name "$cluster" "${images[@]}"
