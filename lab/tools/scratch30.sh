#!/usr/bin/env bash
# Issue #20's from-scratch candidate in one resumable command, across development machines
# (about 5.3 hours of training on 2 idle cores, 10.5 minutes an epoch, then 11 minutes of
# steps 2-4):
#   bash lab/tools/scratch30.sh        # train, resuming from runs/ or from the carried state
#   bash lab/tools/scratch30.sh pack   # at a session's end: carry the run in git (commit it)
#   COLOR=gray bash lab/tools/scratch30.sh [pack]   # the grey twin (lab/configs/scratch30-gray*)
#   SCHEDULE=scratch40 COLOR=gray bash lab/tools/scratch30.sh [pack]   # its 40-epoch schedule
# 1. lab/configs/scratch30-bgr.yaml: configs/default.yaml from random weights, 30 epochs,
#    colour, into runs/scratch30-bgr. A new machine has no runs/: the state carried in
#    lab/carry/scratch30-bgr (tools/carry_run.py) is unpacked and training resumes from it
#    (FROM_SCRATCH=1: not unpacked, so a machine without runs/ trains from epoch 1).
# 2. lab/configs/scratch30-bgr-occlude.yaml: stage 5o's epoch with occluded faces.
# 3. tools/finish_model.sh: the heads users get, int8, temperatures, every validation report.
# 4. lab/tools/ship_rule.py: the rule in lab/README.md, written before any result.
# To ship the result (if step 4 says so): cp runs/scratch30-bgr-occlude/fernet.onnx
#   src/ferkit/models/
# COLOR=gray stops after step 3: the grey run is a candidate member of the pair, which
# tools/make_pair.sh builds and lab/README.md's rule judges.
set -euo pipefail
COLOR=${COLOR:-bgr}
SCHEDULE=${SCHEDULE:-scratch30}  # lab/configs/$SCHEDULE-$COLOR.yaml and its -occlude twin
RUN=runs/$SCHEDULE-$COLOR
CARRY=lab/carry/$SCHEDULE-$COLOR
FINAL=runs/$SCHEDULE-$COLOR-occlude
for config in "lab/configs/$SCHEDULE-$COLOR.yaml" "lab/configs/$SCHEDULE-$COLOR-occlude.yaml"; do
    if [ ! -f "$config" ]; then
        echo "scratch30.sh: no $config (SCHEDULE=$SCHEDULE, COLOR=$COLOR)" >&2
        exit 2
    fi
done

if [ "${1:-}" = pack ]; then
    python lab/tools/carry_run.py pack "$RUN" "$CARRY"
    exit 0
fi
if [ -z "${FROM_SCRATCH:-}" ] && [ ! -f "$RUN/last.pt" ] && [ -f "$CARRY/weights.pt" ]; then
    python lab/tools/carry_run.py unpack "$CARRY" "$RUN"
fi
train() {  # CONFIG OUT: train, or resume an interrupted run
    local resume=()
    [ -f "$2/last.pt" ] && resume=(--resume)
    ferkit train --config "$1" --out "$2" ${resume[@]+"${resume[@]}"}
}
train "lab/configs/$SCHEDULE-$COLOR.yaml" "$RUN"
train "lab/configs/$SCHEDULE-$COLOR-occlude.yaml" "$FINAL"
RUN="$FINAL" bash tools/finish_model.sh
if [ "$COLOR" = gray ]; then  # a candidate member, not a model: its rule is the pair's
    echo "next: FIRST=$FINAL/fernet.onnx RUN=runs/pair-$SCHEDULE bash tools/make_pair.sh" \
        "(the rule in lab/README.md)"
    exit 0
fi
python lab/tools/ship_rule.py "$FINAL/eval" | tee "$FINAL/ship_rule.md" || true
