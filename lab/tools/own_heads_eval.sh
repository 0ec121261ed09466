#!/usr/bin/env bash
# Score a model's own heads (fp32 as given, read once) on the four validation sets the lab's
# A/B tests compare: RAF-DB and FER2013 (their heads, 7 classes), FER+ (8), CK+ (`posed`, 8).
# Writes PREFIX-<data>.json for each (`ferkit evaluate --json`).
#   bash lab/tools/own_heads_eval.sh runs/size-ab-48/fernet-fp32.onnx lab/eval/size-ab/48
set -euo pipefail
D=${DATASETS:-../shared/datasets}
model=$1
prefix=$2
for triple in rafdb:rafdb:fer2013 fer2013:fer2013:fer2013 ferplus:ferplus:ferplus \
              ckplus:posed:ferplus; do
    IFS=: read -r data head labels <<< "$triple"
    ferkit evaluate --model "$model" --data "$D/$data" --head "$head" \
        --label-set "$labels" --no-tta --json > "$prefix-$data.json"
done
