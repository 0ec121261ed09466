#!/usr/bin/env bash
# Issue #20: distil the shipped stage 5o and the from-scratch colour model into one fernet_s
# (lab/configs/distill-pair.yaml), finish it as the shipped model is finished, and apply the
# ship rule written before its results (lab/README.md). About 1 h 15 min on 2 idle cores:
# the cache ~10 min, 5 epochs ~10 min each, tools/finish_model.sh ~11 min. Resumable.
# Needs runs/scratch30-bgr-occlude (bash lab/tools/scratch30.sh rebuilds it from the carry).
#   bash lab/tools/distill_pair.sh
set -euo pipefail
CONFIG=lab/configs/distill-pair.yaml
CACHE=runs/teachers-pair.npz      # the path $CONFIG reads
RUN=runs/distill-pair
TEACHER=runs/scratch30-bgr-occlude/fernet-fp32.onnx
[ -f "$TEACHER" ] || { echo "distill_pair: $TEACHER missing: run bash lab/tools/scratch30.sh" >&2; exit 2; }
[ -f "$CACHE" ] || ferkit distill-cache lab/models/stage5o-fp32.onnx "$TEACHER" \
    --mirror --config "$CONFIG" --out "$CACHE" | tee runs/teachers-pair.txt
resume=()
[ -f "$RUN/last.pt" ] && resume=(--resume)
ferkit train --config "$CONFIG" --out "$RUN" ${resume[@]+"${resume[@]}"}
RUN="$RUN" bash tools/finish_model.sh
python lab/tools/ship_rule.py "$RUN/eval" | tee "$RUN/ship_rule.md" || true
