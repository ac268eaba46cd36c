#!/usr/bin/env bash
# Installs the benchmark's peers from Debian 12: PyTorch (python3-torch), ADOL-C
# (libadolc-dev, with g++ to build against it) and OpenBLAS (libopenblas-dev: PyTorch's
# BLAS through Debian's alternatives, and nabla's optional BLAS). Needs root. Optional:
# `make bench` skips the peers that are missing, with a note.
set -euo pipefail
PKGS="python3-torch libadolc-dev libopenblas-dev g++"
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-peers: needs root and apt-get; run: sudo apt-get install -y $PKGS" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $PKGS </dev/null
