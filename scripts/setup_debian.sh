#!/usr/bin/env bash
# Installs the Debian 12 packages wick needs to build, test and run its main
# job, when they are missing. Run as root (uses apt-get).
set -euo pipefail
pkgs=(build-essential cmake ninja-build ccache libgtest-dev zlib1g-dev nlohmann-json3-dev libstb-dev libopenmpi-dev openmpi-bin
      libbenchmark-dev libopenblas-dev libcli11-dev
      dataset-fashion-mnist wordnet-base dict-gcide fortunes-min fortunes espeak-ng python3-matplotlib)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
