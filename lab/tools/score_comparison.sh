#!/usr/bin/env bash
# Export each run's best epoch and score it on FER2013 (7 classes and the seed5 view), FER+
# (majority, 8) and the held-out CK+ fold (its posed head where it has one): one folder per run
# of the reports and the run's metrics.csv and config.yaml. The comparisons in docs/MODEL.md
# come from this:
#   bash lab/tools/score_comparison.sh lab/eval/cmp10 runs/cmp10-fer2013 runs/cmp10-multi ...
# CKPT=swa.pt scores each run's weight average instead of best.pt; EXPORT_ARGS is passed to
# `ferkit export`, e.g. EXPORT_ARGS="--int8-calibration ../shared/datasets/fer2013" for int8,
# and SUFFIX is added to each run's folder name (OUTDIR/<run><SUFFIX>).
set -euo pipefail
D=${DATASETS:-../shared/datasets}
CKPT=${CKPT:-best.pt}
EXPORT_ARGS=${EXPORT_ARGS:-}
SUFFIX=${SUFFIX:-}
out=$1
shift
onnx=$(mktemp --suffix=.onnx)
trap 'rm -f "$onnx"' EXIT
for run in "$@"; do
    run=${run%/}
    name=$(basename "$run")$SUFFIX
    dir="$out/$name"
    mkdir -p "$dir"
    # shellcheck disable=SC2086  # EXPORT_ARGS is a list of words
    ferkit export "$run/$CKPT" --out "$onnx" $EXPORT_ARGS > /dev/null
    ferkit evaluate --model "$onnx" --data "$D/fer2013" --label-set fer2013 --out "$dir" --overwrite > "$dir/fer2013.txt"
    ferkit evaluate --model "$onnx" --data "$D/fer2013" --label-set seed5 --out "$dir" --overwrite > "$dir/fer2013-seed5.txt"
    ferkit evaluate --model "$onnx" --data "$D/ferplus" --label-set ferplus --out "$dir" --overwrite > "$dir/ferplus.txt"
    posed=()  # a FER2013-only run has no posed head: CK+ then goes through its one head
    if python -c 'import sys; from ferkit.model import ExpressionModel as M
sys.exit("posed" not in M(sys.argv[1]).heads)' "$onnx"; then posed=(--head posed); fi
    ferkit evaluate --model "$onnx" --data "$D/ckplus" "${posed[@]}" --out "$dir" --overwrite > "$dir/ckplus.txt"
    cp "$run/metrics.csv" "$run/config.yaml" "$dir/"  # how the run was trained, per epoch
    # The reports name the temporary export; name the run instead.
    sed -i "s#$onnx#$run/$CKPT#g; s#$PWD/##g" "$dir"/*.json "$dir"/*.txt
done
