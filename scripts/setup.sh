#!/usr/bin/env bash
# Installs every Debian package medchain needs to build, test and run.
# Idempotent: running it again installs nothing new. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git python3 curl ca-certificates
  libssl-dev libsodium-dev librocksdb-dev libraft-dev libuv1-dev liblz4-dev
  libcpp-httplib-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libtomlplusplus-dev libvalijson-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  etcd-server etcd-client
  dpkg-dev file systemd man-db   # the .deb (cpack, dpkg-shlibdeps) and its test
)
# Node.js and npm fetch the pinned FHIR R4 definitions (scripts/fhir-definitions.sh)
# and run the FHIR client of the functional tests. A Node.js already installed
# from elsewhere (e.g. NodeSource, which bundles npm) is used as it is: Debian's
# npm package conflicts with it.
if ! command -v npm >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
