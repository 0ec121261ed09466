#!/usr/bin/env bash
# The shipped classifier's last stages, in one resumable command (about 65 + 11 minutes of
# training plus 11 of steps 2-4 on 2 idle CPU cores; run it again after an interruption and
# it resumes from the last finished epoch):  bash tools/train_stage5.sh
# 1. Rebuild a trainable checkpoint from stage 4f's backbone (lab/models/stage4f-fp32.onnx,
#    the chain of lab/HISTORY.md), RAF-DB's head starting as a copy of FER2013's.
# 2. Stage 5: fine-tune it on the four sources of configs/default.yaml
#    (lab/configs/stage5.yaml) into runs/stage5.
# 3. Stage 5o: one more epoch of stage 5 at a low learning rate with occluded faces
#    (lab/configs/occlude-ab-on.yaml, the occlusion A/B's treatment arm) into $RUN.
# 4. Steps 2-4 (tools/finish_model.sh): heads users get, int8, temperatures, validation.
# Everything lands in runs/; nothing in the package changes. The shipped file was made in
# runs/occlude-ab-on by lab/tools/occlude_ab.sh with the same config.
# The shipped file's first member (tools/make_pair.sh's FIRST) is $RUN/fernet.onnx.
set -euo pipefail
RUN=${RUN:-runs/stage5o}
START=runs/stage4f-import/best.pt  # the path lab/configs/stage5.yaml starts from
STAGE5=runs/stage5                 # the path lab/configs/occlude-ab-off.yaml starts from
if [ "$RUN" = "$STAGE5" ]; then
    echo "RUN must differ from $STAGE5, which stage 5o starts from" >&2
    exit 2
fi

train() {  # CONFIG OUT: train, or resume an interrupted run
    local resume=()
    [ -f "$2/last.pt" ] && resume=(--resume)
    ferkit train --config "$1" --out "$2" ${resume[@]+"${resume[@]}"}
}
[ -f "$START" ] || python lab/tools/onnx_to_checkpoint.py lab/models/stage4f-fp32.onnx \
    --copy-head rafdb=fer2013 --out "$START"
train lab/configs/stage5.yaml "$STAGE5"
train lab/configs/occlude-ab-on.yaml "$RUN"
RUN="$RUN" bash tools/finish_model.sh
