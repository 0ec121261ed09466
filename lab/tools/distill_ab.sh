#!/usr/bin/env bash
# Distillation A/B on a CPU (issue #20): an ensemble of our own models (the shipped stage 5o
# and both arms of lab/tools/size_ab.sh) has its averaged predictions cached once over every
# training face (`ferkit distill-cache`, which prints each member's and the ensemble's
# validation accuracy per head), then a student is trained with size-ab-48.yaml's recipe
# and seed plus the cache (lab/configs/distill-ab-48.yaml). The control arm is
# size_ab.sh's own size-ab-48 run: same start, data, schedule and seed, no teacher.
# Needs runs/size-ab-48 and runs/size-ab-64 (bash lab/tools/size_ab.sh).
#   bash lab/tools/distill_ab.sh          (about 35 minutes on 2 idle cores)
set -euo pipefail
D=${DATASETS:-../shared/datasets}
SIZE=48  # the student's input size, as its control arm's
OUT=${OUT:-lab/eval/distill-ab}
CACHE=runs/teachers-ab-$SIZE.npz   # the path lab/configs/distill-ab-$SIZE.yaml reads
run=runs/distill-ab-$SIZE
mkdir -p "$OUT"
[ -f "$CACHE" ] || ferkit distill-cache lab/models/stage5o-fp32.onnx \
    runs/size-ab-48/fernet-fp32.onnx runs/size-ab-64/fernet-fp32.onnx \
    --config "lab/configs/distill-ab-$SIZE.yaml" --out "$CACHE" | tee "$OUT/ensemble-$SIZE.txt"
if [ -f "$run/last.pt" ]; then resume=--resume; else resume=; fi
ferkit train --config "lab/configs/distill-ab-$SIZE.yaml" --out "$run" $resume
ferkit export "$run/best.pt" --out "$run/fernet-fp32.onnx" --overwrite --fp16-weights
cp "$run/metrics.csv" "$OUT/metrics-$SIZE.csv"
DATASETS="$D" bash lab/tools/own_heads_eval.sh "$run/fernet-fp32.onnx" "$OUT/student-$SIZE"
python - "$OUT" "$SIZE" <<'PY'
"""results.md: the student against its control arm (lab/eval/size-ab), same heads and reads."""
import json, sys
from pathlib import Path
out, size = Path(sys.argv[1]), sys.argv[2]
control = out.parent / "size-ab"
rows = ["| model | RAF-DB acc / macro | FER2013 acc / macro | FER+ acc / macro "
        "| CK+ acc / macro |", "|---|---|---|---|---|"]
for name, path in ((f"control (size-ab-{size})", control / f"{size}-{{}}.json"),
                   (f"student (distill-ab-{size})", out / f"student-{size}-{{}}.json")):
    cells = []
    for data in ("rafdb", "fer2013", "ferplus", "ckplus"):
        r = json.loads(Path(str(path).format(data)).read_text())
        cells.append(f"{100 * r['accuracy']:.1f} / {100 * r['macro_recall']:.1f}")
    rows.append(f"| {name} | " + " | ".join(cells) + " |")
(out / f"results-{size}.md").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
PY
