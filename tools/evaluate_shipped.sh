#!/usr/bin/env bash
# Re-score the shipped models on every validation set the model card reports, writing the
# reports, tables and confusion matrices into docs/eval (int8 default) and docs/eval/fp32.
# Run from the repository root, with ../shared/datasets beside it:  bash tools/evaluate_shipped.sh
set -euo pipefail
D=${DATASETS:-../shared/datasets}
FP32=src/ferkit/models/fernet-fp32.onnx
run() {  # OUT_DIR NAME ferkit-evaluate-args...
    local out=$1 name=$2
    shift 2
    mkdir -p "$out"
    ferkit evaluate "$@" --out "$out" | tee "$out/$name.txt"
}
run docs/eval fer2013-fer2013 --data "$D/fer2013" --label-set fer2013
run docs/eval fer2013-seed5   --data "$D/fer2013" --label-set seed5
run docs/eval ferplus-ferplus --data "$D/ferplus" --label-set ferplus
run docs/eval ferplus-seed5   --data "$D/ferplus" --label-set seed5
run docs/eval ckplus-posed    --data "$D/ckplus"  --head posed
run docs/eval/fp32 fer2013-fer2013 --model "$FP32" --data "$D/fer2013" --label-set fer2013
run docs/eval/fp32 fer2013-seed5   --model "$FP32" --data "$D/fer2013" --label-set seed5
run docs/eval/fp32 ferplus-ferplus --model "$FP32" --data "$D/ferplus" --label-set ferplus
# The shipped model's path is printed in full; keep the reports free of this machine's paths.
sed -i "s#$PWD/##g" docs/eval/*.txt docs/eval/*.json docs/eval/fp32/*.txt docs/eval/fp32/*.json
