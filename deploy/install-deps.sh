#!/usr/bin/env bash
# Installs every Debian 12 package saasmetrics needs to build, test and run.
# Used by the README commands, .ci/run and the Dockerfile's build stage.
# Usage: deploy/install-deps.sh [build|image|all]   (default: all)
#   build: compile and run the C++ server and tests; image: + the Go REST gateway (the
#   Dockerfile's build stage); all: + the tools the tests use (Prometheus, promtool,
#   yamllint, docker-compose, python3, clang and libFuzzer for the fuzz targets).
set -euo pipefail

build_pkgs=(
  cmake ninja-build pkg-config g++ ccache git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libpqxx-dev libpq-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libsodium-dev libeigen3-dev
  postgresql-15 postgresql-client-15
  golang-github-grpc-ecosystem-grpc-gateway-dev
)
gateway_pkgs=(
  golang-go golang-grpc-gateway golang-github-grpc-ecosystem-grpc-gateway-dev
  golang-google-grpc-dev golang-goprotobuf-dev golang-google-genproto-dev golang-google-protobuf-dev
)
test_pkgs=(
  python3 python3-grpcio python3-yaml prometheus clang-format curl yamllint docker-compose openssl
  clang libclang-rt-14-dev chromium
)
# The dashboard's bundle is built with Node.js and npm: Debian's, unless the machine has
# them already (another Node.js package would conflict with Debian's npm).
command -v node >/dev/null || gateway_pkgs+=(nodejs)
command -v npm >/dev/null || gateway_pkgs+=(npm)

case "${1:-all}" in
  build) pkgs=("${build_pkgs[@]}") ;;
  image) pkgs=("${build_pkgs[@]}" "${gateway_pkgs[@]}") ;;
  all) pkgs=("${build_pkgs[@]}" "${gateway_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) echo "usage: $0 [build|image|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
