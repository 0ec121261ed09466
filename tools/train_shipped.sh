#!/usr/bin/env bash
# The shipped classifier from scratch, in one resumable command (about 2.5 hours on 2 idle CPU
# cores; run it again after an interruption and it resumes from the last finished epoch):
#   bash tools/train_shipped.sh
# Steps: train configs/default.yaml; fit the `wild` and `ferplus_ck` heads on the trained
# backbone's features;
# quantise to int8; fit a temperature per head; score every validation set the model card
# reports. Everything lands in $RUN (default runs/default); nothing in the package changes.
# To ship the result:  cp runs/default/fernet.onnx src/ferkit/models/fernet.onnx
set -euo pipefail
RUN=${RUN:-runs/default}

resume=()
[ -f "$RUN/last.pt" ] && resume=(--resume)
ferkit train --config configs/default.yaml --out "$RUN" ${resume[@]+"${resume[@]}"}

# Steps 2-4 are cheap (about 11 minutes together) and rewrite their outputs every time.
RUN="$RUN" bash tools/finish_model.sh
