#!/usr/bin/env bash
# The shipped pair's `wild` and `ferplus_ck` heads refitted on both networks' features side by
# side (`ferkit head` on the merged file), same data and weights as tools/finish_model.sh, then
# each joint head and the averaged head it would replace read once on its validation sets.
# The rule, written before any result: lab/README.md ("tools/joint_heads.sh").
#   bash lab/tools/joint_heads.sh     # runs/joint-heads, reports in lab/eval/joint-heads
set -euo pipefail
D=${DATASETS:-../shared/datasets}
MODEL=${MODEL:-src/ferkit/models/fernet.onnx}
RUN=${RUN:-runs/joint-heads}
OUT=${OUT:-lab/eval/joint-heads}
mkdir -p "$RUN" "$OUT"
[ -f "$RUN/wild.onnx" ] || ferkit head "$MODEL" \
    --data "$D/rafdb" --weight 4 --data "$D/fer2013" --weight 1 --data "$D/ckplus" --weight 8 \
    --name wild_joint --out "$RUN/wild.onnx" | tee "$OUT/head-wild.txt"
[ -f "$RUN/heads.onnx" ] || ferkit head "$RUN/wild.onnx" \
    --data "$D/ferplus" --weight 1 --data "$D/ckplus" --weight 8 \
    --name ferplus_joint --out "$RUN/heads.onnx" | tee "$OUT/head-ferplus.txt"
score() {  # DATASET HEAD: read once, the dataset's own label set
    mkdir -p "$OUT/$2"
    ferkit evaluate --model "$RUN/heads.onnx" --data "$D/$1" --head "$2" --no-tta \
        --out "$OUT/$2" --overwrite > "$OUT/$2/$1.txt"
    python -c "import json,sys; r=json.load(open(sys.argv[1])); print(sys.argv[2], sys.argv[3], round(100*r['accuracy_plain'],2), round(100*r['macro_recall_plain'],2), r['samples']['evaluated'])" \
        "$(ls "$OUT/$2/eval-$1"-*.json)" "$1" "$2" | tee -a "$OUT/scores.txt"
}
: > "$OUT/scores.txt"
for h in wild wild_joint; do score rafdb "$h"; score fer2013 "$h"; done
for h in ferplus_ck ferplus_joint; do score ferplus "$h"; score ckplus "$h"; done
