#!/usr/bin/env bash
# The shipped classifier's last stage, in one resumable command (about 65 minutes of training
# plus 11 of steps 2-4 on 2 idle CPU cores; run it again after an interruption and it resumes
# from the last finished epoch):  bash tools/train_stage5.sh
# 1. Rebuild a trainable checkpoint from stage 4f's backbone (lab/models/stage4f-fp32.onnx,
#    the chain of lab/HISTORY.md), RAF-DB's head starting as a copy of FER2013's.
# 2. Fine-tune it on the four sources of configs/default.yaml (lab/configs/stage5.yaml).
# 3. Steps 2-4 (tools/finish_model.sh): heads users get, int8, temperatures, validation.
# Everything lands in $RUN (default runs/stage5); nothing in the package changes.
# To ship the result:  cp $RUN/fernet.onnx src/ferkit/models/fernet.onnx
#                      cp $RUN/fernet-fp32.onnx src/ferkit/models/fernet-fp32.onnx
set -euo pipefail
RUN=${RUN:-runs/stage5}
START=runs/stage4f-import/best.pt  # the path lab/configs/stage5.yaml starts from

[ -f "$START" ] || python lab/tools/onnx_to_checkpoint.py lab/models/stage4f-fp32.onnx \
    --copy-head rafdb=fer2013 --out "$START"
resume=()
[ -f "$RUN/last.pt" ] && resume=(--resume)
ferkit train --config lab/configs/stage5.yaml --out "$RUN" ${resume[@]+"${resume[@]}"}
RUN="$RUN" bash tools/finish_model.sh
