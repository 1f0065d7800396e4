#!/usr/bin/env bash
# Rebuild Herd's bundled demo model from scratch: vocabulary, training (phase 1: 6500 steps;
# phase 2: 900 more with colour/where questions weighted up; phase 3: 7000 more, the same weights,
# with 2-tile pictures twice as often; phase 4: 3000 more at half the LR, where questions 6x),
# held-out and UI fixtures, GGUF export (resources/models/herd-demo.gguf + herd-demo-mmproj.gguf),
# PyTorch evaluation and the loss curve (docs/demo-loss.png). About 3 h on 2 CPU threads.
# See docs/demo-model.md.
#   tools/demo/build.sh
# Needs torch, transformers, tokenizers, tiktoken, regex, pillow, numpy, gguf, matplotlib.
set -eu
cd "$(dirname "$0")/../.."
PY=${PYTHON:-/work/venv/bin/python}
W=${WORK:-/tmp/herd-demo}
"$PY" tools/demo/train.py --work "$W" --vocab --train                # phase 1 (RECIPE steps)
"$PY" tools/demo/train.py --work "$W" --p2-steps 900                  # phase 2, from phase 1's checkpoint
"$PY" tools/demo/train.py --work "$W" --p2-steps 7000 --multi-every 3 # phase 3, from phase 2's
"$PY" tools/demo/train.py --work "$W" --p2-steps 3000 --multi-every 3 --p2-lr 5e-4 \
    --p2-weights where=6,colour=3                                     # phase 4, from phase 3's
"$PY" tools/demo/train.py --work "$W" --heldout 100 --export --eval --plot
