#!/usr/bin/env bash
# The main job: installs what is missing, builds wick in Release and trains a
# small CNN on Fashion-MNIST (2 epochs, progress bar), printing its test
# accuracy. Extra arguments go to the trainer (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_debian.sh
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}"
cmake --build build -j "$(nproc)" --target train_cnn
./build/examples/train_cnn "$@"
