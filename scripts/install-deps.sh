#!/usr/bin/env bash
# Installs the Debian 12 packages kvd needs to build and test, if any are missing.
# Safe to run repeatedly; works as root or through sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev    # Beast, Asio, JSON (HTTP front end, peer transport)
  protobuf-compiler libprotobuf-dev          # wire and log formats (proto/)
  libleveldb-dev libsnappy-dev               # durable Raft log and state machine
  libgtest-dev libgmock-dev                  # unit, scenario and simulation tests
  libcli11-dev                               # kvd / kvctl flags
  libxxhash-dev                              # the consistent-hash ring (kv/ring.h): a fixed, fast 64-bit hash
  curl iproute2 iptables procps              # local cluster scripts and fault injection
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
