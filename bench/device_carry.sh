#!/usr/bin/env bash
# Fills the git-ignored folders that the lent GPU machine's calls carry (docs/performance.md,
# "On the lent GPU machine"): the machine has torch and Lightning but not Hydra, pytest, the
# data or the FID weights, and a call carries at most 64 MiB.
#   .whl/        hydra-core, omegaconf, antlr (../shared/wheels-gpu); .whl/test/: pytest and
#                its dependencies, downloaded here from the package registry
#   .gpu-a/      the FID weights' first part and the plain-PyTorch yardstick
#   .gpu-b/      the FID weights' second part
#   .gpu-c/      CIFAR-10's training images (the quality runs)
# Usage: bash bench/device_carry.sh [SHARED]   (SHARED: default ../shared)
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${1:-../shared}
for need in "$shared/wheels-gpu" "$shared/data/fid-inception" "$shared/bench/plain_acwgangp.py" \
            "$shared/data/cifar10/train.zip"; do
  [ -e "$need" ] || { echo "error: $need not found (give the shared folder as the argument)" >&2; exit 2; }
done
rm -rf .whl .gpu-a .gpu-b .gpu-c
mkdir -p .whl/test .gpu-a .gpu-b .gpu-c
cp "$shared"/wheels-gpu/*.whl .whl/
python3 -m pip download -q --no-deps -d .whl/test pytest pluggy iniconfig pygments packaging
cp "$shared"/data/fid-inception/*.part00 "$shared"/bench/plain_acwgangp.py .gpu-a/
cp "$shared"/data/fid-inception/*.part01 .gpu-b/
cp "$shared"/data/cifar10/train.zip .gpu-c/
du -sh .whl .gpu-a .gpu-b .gpu-c
