#!/usr/bin/env bash
# Rebuild Herd's bundled demo model from scratch: vocabulary, training (phase 1: 6500 steps,
# phase 2: 900 more with colour/where questions weighted up), held-out and UI fixtures, GGUF
# export (resources/models/herd-demo.gguf + herd-demo-mmproj.gguf), PyTorch evaluation and the
# loss curve (docs/demo-loss.png). About 70 minutes on 2 CPU threads. See docs/demo-model.md.
#   tools/demo/build.sh
# Needs torch, transformers, tokenizers, tiktoken, regex, pillow, numpy, gguf, matplotlib.
set -eu
cd "$(dirname "$0")/../.."
PY=${PYTHON:-/work/venv/bin/python}
W=${WORK:-/tmp/herd-demo}
"$PY" tools/demo/train.py --work "$W" --vocab --train            # phase 1 (RECIPE steps)
"$PY" tools/demo/train.py --work "$W" --p2-steps 900              # phase 2, from phase 1's checkpoint
"$PY" tools/demo/train.py --work "$W" --heldout 100 --export --eval --plot
