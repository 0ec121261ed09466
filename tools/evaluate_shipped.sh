#!/usr/bin/env bash
# Score the shipped model on every validation set the model card reports, through the default
# user path (`ferkit evaluate` with no --head: each label set's own head), writing reports,
# confusion matrices and reliability diagrams into docs/eval/shipped.
# Run from the repository root, with ../shared/datasets beside it:  bash tools/evaluate_shipped.sh
# Another model: MODEL=runs/x/fernet.onnx OUT=runs/x/eval bash tools/evaluate_shipped.sh
set -euo pipefail
D=${DATASETS:-../shared/datasets}
OUT=${OUT:-docs/eval/shipped}
model=()
[ -n "${MODEL:-}" ] && model=(--model "$MODEL")
run() {  # NAME ferkit-evaluate-args...
    local name=$1
    shift
    mkdir -p "$OUT"
    ferkit evaluate ${model[@]+"${model[@]}"} "$@" --out "$OUT" --overwrite | tee "$OUT/$name.txt"
}
# Reports are named by data and label set, so a non-default head or setting gets its own
# folder.
run_in() {  # FOLDER NAME ferkit-evaluate-args...
    local folder=$1 name=$2
    shift 2
    mkdir -p "$OUT/$folder"
    ferkit evaluate ${model[@]+"${model[@]}"} "$@" --out "$OUT/$folder" --overwrite | tee "$OUT/$folder/$name.txt"
}
run rafdb-fer2013   --data "$D/rafdb"   --label-set fer2013
run rafdb-seed5     --data "$D/rafdb"   --label-set seed5
run fer2013-fer2013 --data "$D/fer2013" --label-set fer2013
run fer2013-seed5   --data "$D/fer2013" --label-set seed5
run ferplus-ferplus --data "$D/ferplus" --label-set ferplus
run ferplus-seed5   --data "$D/ferplus" --label-set seed5
run ckplus-ferplus  --data "$D/ckplus"  --label-set ferplus
run ckplus-fer2013  --data "$D/ckplus"  --label-set fer2013
run_in head-posed ckplus-ferplus --data "$D/ckplus" --label-set ferplus --head posed  # not a default path
# The crops searched by the detector, as photos are (about 10 minutes on 2 cores).
run_in faces-found rafdb-fer2013 --data "$D/rafdb" --label-set fer2013 --faces found
run_in faces-found fer2013-fer2013 --data "$D/fer2013" --label-set fer2013 --faces found
# The shipped model's path is printed in full; keep the reports free of this machine's paths.
sed -i "s#$PWD/##g" "$OUT"/*.txt "$OUT"/*.json "$OUT"/*/*.txt "$OUT"/*/*.json
