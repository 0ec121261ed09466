#!/usr/bin/env bash
# The shipped model's last two steps, on a finished int8 file: fit a temperature per served
# head (`ferkit calibrate`, on half of each validation set; report in $RUN/calibration.json)
# into $RUN/fernet.onnx, then score every validation set the model card reports ($RUN/eval).
# tools/finish_model.sh (one network) and tools/make_pair.sh (two merged) both end with it.
#   IN=runs/x/fernet-int8.onnx RUN=runs/x bash tools/calibrate_and_score.sh
set -euo pipefail
D=${DATASETS:-../shared/datasets}
: "${IN:?IN: the int8 model to calibrate}" "${RUN:?RUN: the folder to write into}"
ferkit calibrate "$IN" --data "$D/fer2013" --data "$D/ferplus" \
    --data "$D/rafdb=wild" --data "$D/ferplus=ferplus_ck" --out "$RUN/fernet.onnx" \
    --overwrite --report "$RUN/calibration.json"
DATASETS="$D" MODEL="$RUN/fernet.onnx" OUT="$RUN/eval" bash tools/evaluate_shipped.sh
