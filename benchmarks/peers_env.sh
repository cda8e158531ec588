#!/usr/bin/env bash
# Build .venv-peers: the environment for benchmarks/run_peers.py, which fits
# sknclust and ClustPy in one process.
#
# ClustPy's deep module imports torchvision, and torchvision only loads beside
# the torch build it was compiled for: the torchvision 0.28 wheel that matches
# torch 2.13 is linked against CUDA torch and does not load beside the CPU
# build pinned in the development environment (.venv). So ClustPy is not added
# there; this environment takes torch 2.14.1 with its torchvision 0.29.1 and
# installs this repository into it, keeping the development pins for the rest.
#
#     bash benchmarks/peers_env.sh
#     .venv-peers/bin/python benchmarks/run_peers.py --dataset digits --threads 1
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv-peers}"

"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q \
    torch==2.14.1 torchvision==0.29.1 clustpy==0.0.3 \
    scikit-learn==1.9.1 skorch==1.4.0 numpy==2.4.6 scipy==1.17.1 \
    joblib==1.6.0 tqdm==4.70.1 pandas matplotlib psutil
"$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
"$VENV/bin/python" -c "import clustpy.deep, sknclust, torch; print('torch', torch.__version__)"
