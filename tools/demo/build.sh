#!/usr/bin/env bash
# Rebuild Herd's bundled demo model from scratch: vocabulary, training, held-out fixtures,
# GGUF export (resources/models/herd-demo.gguf + herd-demo-mmproj.gguf), PyTorch evaluation
# and the loss curve (docs/demo-loss.png). See docs/demo-model.md.
#   tools/demo/build.sh                 (the shipped recipe: 6500 steps, about 45 minutes on 2 CPU
#                                         threads; --steps N for a shorter or longer run)
# Needs torch, transformers, tokenizers, tiktoken, regex, pillow, numpy, gguf, matplotlib.
set -eu
cd "$(dirname "$0")/../.."
PY=${PYTHON:-/work/venv/bin/python}
"$PY" tools/demo/train.py --all --work "${WORK:-/tmp/herd-demo}" "$@"
