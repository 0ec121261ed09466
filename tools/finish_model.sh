#!/usr/bin/env bash
# Steps 2-4 of the shipped model on a trained run (about 11 minutes on 2 idle cores): export
# its best.pt, fit the `wild` and `ferplus_ck` heads on the backbone's features, quantise to
# int8, fit a temperature per head, and score every validation set the model card reports.
#   RUN=runs/default bash tools/finish_model.sh
# Everything lands in $RUN and is rewritten every time; nothing in the package changes.
# To ship the result:  cp $RUN/fernet.onnx src/ferkit/models/fernet.onnx
set -euo pipefail
D=${DATASETS:-../shared/datasets}
RUN=${RUN:-runs/default}

# fp32 compute with fp16-stored weights (half the size of fp32), as lab/models/ keeps its
# backbones; steps 2-4 start from it.
ferkit export "$RUN/best.pt" --out "$RUN/fernet-fp32.onnx" --overwrite --fp16-weights
# The heads users get: 7 classes from RAF-DB + FER2013 + CK+, FER+'s 8 from FER+ + CK+.
ferkit head "$RUN/fernet-fp32.onnx" \
    --data "$D/rafdb" --weight 4 --data "$D/fer2013" --weight 1 --data "$D/ckplus" --weight 8 \
    --name wild --serve seed5 --serve fer2013 --out "$RUN/fernet-wild-fp32.onnx" --overwrite
ferkit head "$RUN/fernet-wild-fp32.onnx" \
    --data "$D/ferplus" --weight 1 --data "$D/ckplus" --weight 8 \
    --name ferplus_ck --serve ferplus --out "$RUN/fernet-heads-fp32.onnx" --overwrite
ferkit export "$RUN/fernet-heads-fp32.onnx" --out "$RUN/fernet-int8.onnx" --overwrite \
    --int8-calibration "$D/fer2013" --int8-calibration "$D/rafdb"
DATASETS="$D" IN="$RUN/fernet-int8.onnx" RUN="$RUN" bash tools/calibrate_and_score.sh
