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
D=${DATASETS:-../shared/datasets}
RUN=${RUN:-runs/default}

resume=()
[ -f "$RUN/last.pt" ] && resume=(--resume)
ferkit train --config configs/default.yaml --out "$RUN" "${resume[@]}"

# Later steps are cheap (about 20 minutes together) and rewrite their outputs every time.
ferkit export "$RUN/best.pt" --out "$RUN/fernet-fp32.onnx" --overwrite
# The heads users get: 7 classes from RAF-DB + FER2013 + CK+, FER+'s 8 from FER+ + CK+.
ferkit head "$RUN/fernet-fp32.onnx" \
    --data "$D/rafdb" --weight 4 --data "$D/fer2013" --weight 1 --data "$D/ckplus" --weight 8 \
    --name wild --serve seed5 --serve fer2013 --out "$RUN/fernet-wild-fp32.onnx" --overwrite
ferkit head "$RUN/fernet-wild-fp32.onnx" \
    --data "$D/ferplus" --weight 1 --data "$D/ckplus" --weight 8 \
    --name ferplus_ck --serve ferplus --out "$RUN/fernet-heads-fp32.onnx" --overwrite
ferkit export "$RUN/fernet-heads-fp32.onnx" --out "$RUN/fernet-int8.onnx" --overwrite \
    --int8-calibration "$D/fer2013" --int8-calibration "$D/rafdb"
ferkit calibrate "$RUN/fernet-int8.onnx" --data "$D/fer2013" --data "$D/ferplus" \
    --data "$D/rafdb=wild" --data "$D/ferplus=ferplus_ck" --out "$RUN/fernet.onnx" \
    --overwrite --report "$RUN/calibration.json"
MODEL="$RUN/fernet.onnx" OUT="$RUN/eval" bash tools/evaluate_shipped.sh
