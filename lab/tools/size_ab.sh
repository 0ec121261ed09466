#!/usr/bin/env bash
# Input size A/B (lab/configs/size-ab-{48,64}.yaml): the shipped model trained 2 more epochs
# at 48 and at 64 px, then each arm's own heads scored (fp32, read once) on RAF-DB, FER2013,
# FER+ and CK+ validation, and each arm's int8 file timed (benchmarks/bench_classifier.py).
# About 70 minutes on 2 idle cores; run it again after an interruption and it resumes.
#   bash lab/tools/size_ab.sh
set -euo pipefail
D=${DATASETS:-../shared/datasets}
OUT=${OUT:-lab/eval/size-ab}
START=runs/stage5o-import/best.pt  # the path lab/configs/size-ab-48.yaml starts from
mkdir -p "$OUT"
[ -f "$START" ] || python lab/tools/onnx_to_checkpoint.py lab/models/stage5o-fp32.onnx \
    --out "$START"
for size in 48 64; do
    run=runs/size-ab-$size
    if [ -f "$run/last.pt" ]; then resume=--resume; else resume=; fi
    ferkit train --config "lab/configs/size-ab-$size.yaml" --out "$run" $resume
    ferkit export "$run/best.pt" --out "$run/fernet-fp32.onnx" --overwrite --fp16-weights
    ferkit export "$run/fernet-fp32.onnx" --out "$run/fernet-int8.onnx" --overwrite \
        --int8-calibration "$D/fer2013" --int8-calibration "$D/rafdb"
    cp "$run/metrics.csv" "$OUT/metrics-$size.csv"
    DATASETS="$D" bash lab/tools/own_heads_eval.sh "$run/fernet-fp32.onnx" "$OUT/$size"
    python benchmarks/bench_classifier.py --model "$run/fernet-int8.onnx" --json \
        > "$OUT/$size-bench.json"
done
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = ["| input | RAF-DB acc / macro | FER2013 acc / macro | FER+ acc / macro "
        "| CK+ acc / macro | faces/s (batch 32, int8) |", "|---|---|---|---|---|---|"]
for size in ("48", "64"):
    cells = []
    for data in ("rafdb", "fer2013", "ferplus", "ckplus"):
        r = json.loads((out / f"{size}-{data}.json").read_text())
        cells.append(f"{100 * r['accuracy']:.1f} / {100 * r['macro_recall']:.1f}")
    bench = json.loads((out / f"{size}-bench.json").read_text())
    cells.append(f"{bench['faces_per_s_batch_32']:.0f}")
    rows.append(f"| {size} px | " + " | ".join(cells) + " |")
(out / "results.md").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
PY
