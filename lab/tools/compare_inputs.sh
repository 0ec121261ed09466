#!/usr/bin/env bash
# Issue #20: does a larger or colour input pay? Trains configs/default.yaml four ways, 48 and
# 64 px by gray and bgr, at one fixed shorter budget (EPOCHS, default 6, the same for all),
# then for each: exports fp32 and int8 (calibrated on FER2013 and RAF-DB training faces),
# scores the int8 model on every validation set the model card reports
# (tools/evaluate_shipped.sh) and times it (benchmarks/bench_classifier.py: faces/s at batch 32
# and the public path on 96 px colour crops). Hours on a CPU; resumable: run it again after an
# interruption and each run resumes from its last finished epoch.
#   bash lab/tools/compare_inputs.sh                 # into runs/inputs/<size>-<color>
#   OUT=runs/inputs-e12 EPOCHS=12 bash lab/tools/compare_inputs.sh
#   ARCH=fernet_s1 ...                               # another architecture: <size>-<color>-ARCH
# Everything lands under $OUT, with summary.csv (accuracy per validation set and faces/s per
# variant) at the end. Run from the repository root, with ../shared/datasets beside it.
set -euo pipefail
D=${DATASETS:-../shared/datasets}
OUT=${OUT:-runs/inputs}
EPOCHS=${EPOCHS:-6}
SIZES=${SIZES:-48 64}
COLORS=${COLORS:-gray bgr}
ARCH=${ARCH:-fernet_s}

for size in $SIZES; do
    for color in $COLORS; do
        run="$OUT/$size-$color"
        [ "$ARCH" != fernet_s ] && run="$run-$ARCH"
        resume=()
        [ -f "$run/last.pt" ] && resume=(--resume)
        ferkit train --config configs/default.yaml --out "$run" --epochs "$EPOCHS" \
            --set "data.input_size=$size" --set "data.color=$color" --set "model.name=$ARCH" \
            ${resume[@]+"${resume[@]}"}
        ferkit export "$run/best.pt" --out "$run/fernet-fp32.onnx" --overwrite
        ferkit export "$run/fernet-fp32.onnx" --out "$run/fernet-int8.onnx" --overwrite \
            --int8-calibration "$D/fer2013" --int8-calibration "$D/rafdb"
        MODEL="$run/fernet-int8.onnx" OUT="$run/eval" DATASETS="$D" bash tools/evaluate_shipped.sh
        python benchmarks/bench_classifier.py --model "$run/fernet-int8.onnx" --json \
            > "$run/bench.json"
    done
done

python - "$OUT" <<'EOF'
"""summary.csv: one row per variant, the accuracy of each validation report and faces/s."""
import csv
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
rows = []
for run in sorted(p for p in out.iterdir() if (p / "bench.json").is_file()):
    bench = json.loads((run / "bench.json").read_text())
    row = {"variant": run.name,
           "faces_per_s_batch_32": round(bench["faces_per_s_batch_32"]),
           "ms_probabilities_32_bgr96_crops": round(bench["ms_probabilities_32_bgr96_crops"], 2)}
    for report in sorted((run / "eval").glob("eval-*.json")):
        row[report.stem[5:]] = round(json.loads(report.read_text())["accuracy"], 4)
    rows.append(row)
if rows:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with (out / "summary.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    print((out / "summary.csv").read_text(), end="")
EOF
