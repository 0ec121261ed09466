#!/usr/bin/env bash
# The shipped model's last step (about 12 minutes on 2 idle cores): stage 5o and the
# from-scratch colour model merged into one file (tools/merge_pair.py), a temperature fitted
# per served head (`ferkit calibrate`), and every validation set the model card reports scored
# ($RUN/eval, to compare with the shipped model's docs/eval/shipped; the rules that decided
# what shipped are lab/README.md's, applied by lab/tools/ship_rule.py $RUN/eval).
#   bash tools/make_pair.sh
# FIRST: stage 5o's finished file (tools/train_stage5.sh; a copy is kept in lab/models/);
# SECOND: the from-scratch model's (lab/tools/scratch30.sh).
set -euo pipefail
D=${DATASETS:-../shared/datasets}
FIRST=${FIRST:-lab/models/stage5o.onnx}
SECOND=${SECOND:-runs/scratch30-bgr-occlude/fernet.onnx}
RUN=${RUN:-runs/pair}
python tools/merge_pair.py "$FIRST" "$SECOND" --out "$RUN/fernet-uncalibrated.onnx"
DATASETS="$D" IN="$RUN/fernet-uncalibrated.onnx" RUN="$RUN" bash tools/calibrate_and_score.sh
