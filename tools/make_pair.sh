#!/usr/bin/env bash
# Issue #20: stage 5o and the from-scratch colour model merged into one file, calibrated as the
# shipped model is, scored on the default path, and judged by the rule in lab/README.md
# (about 12 minutes on 2 idle cores).
#   FIRST=src/ferkit/models/fernet.onnx bash lab/tools/pair.sh
# FIRST: stage 5o's finished file; SECOND: the from-scratch model's (lab/tools/scratch30.sh).
set -euo pipefail
D=${DATASETS:-../shared/datasets}
FIRST=${FIRST:-lab/models/stage5o.onnx}
SECOND=${SECOND:-runs/scratch30-bgr-occlude/fernet.onnx}
RUN=${RUN:-runs/pair}
python lab/tools/merge_pair.py "$FIRST" "$SECOND" --out "$RUN/fernet-uncalibrated.onnx"
ferkit calibrate "$RUN/fernet-uncalibrated.onnx" --data "$D/fer2013" --data "$D/ferplus" \
    --data "$D/rafdb=wild" --data "$D/ferplus=ferplus_ck" --out "$RUN/fernet.onnx" \
    --overwrite --report "$RUN/calibration.json"
MODEL="$RUN/fernet.onnx" OUT="$RUN/eval" bash tools/evaluate_shipped.sh
python lab/tools/ship_rule.py "$RUN/eval" | tee "$RUN/ship_rule.md" || true
