#!/usr/bin/env bash
# Occlusion augmentation A/B (lab/configs/occlude-ab-{off,on}.yaml): one more epoch of stage 5
# without and with augment.occlude_prob, then each arm's own heads (fp32, read once) scored
# clean and under benchmarks/robustness.py's occlusions on RAF-DB, FER2013 and FER+
# validation, beside stage 5 itself. About 40 minutes on 2 idle cores. Needs runs/stage5
# (tools/train_stage5.sh).
#   bash lab/tools/occlude_ab.sh
set -euo pipefail
D=${DATASETS:-../shared/datasets}
OUT=${OUT:-lab/eval/occlude-ab}
mkdir -p "$OUT"
for arm in off on; do
    run=runs/occlude-ab-$arm
    if [ -f "$run/last.pt" ]; then resume=--resume; else resume=; fi
    ferkit train --config "lab/configs/occlude-ab-$arm.yaml" --out "$run" $resume
    ferkit export "$run/best.pt" --out "$run/fernet-fp32.onnx" --overwrite --fp16-weights
    cp "$run/metrics.csv" "$OUT/metrics-$arm.csv"
done
# Stage 5's own heads in fp32, as tools/finish_model.sh exports them.
[ -f runs/stage5/fernet-fp32.onnx ] || ferkit export runs/stage5/best.pt \
    --out runs/stage5/fernet-fp32.onnx --fp16-weights
model() {
    if [ "$1" = stage5 ]; then echo runs/stage5/fernet-fp32.onnx
    else echo "runs/occlude-ab-$1/fernet-fp32.onnx"; fi
}
for arm in stage5 off on; do
    for corrupt in none mask sunglasses hand object; do
        flag=(); [ "$corrupt" = none ] || flag=(--corrupt "$corrupt")
        for pair in rafdb:rafdb:fer2013 fer2013:fer2013:fer2013 ferplus:ferplus:ferplus; do
            IFS=: read -r data head labels <<< "$pair"
            ferkit evaluate --model "$(model "$arm")" --data "$D/$data" \
                --head "$head" --label-set "$labels" --no-tta "${flag[@]}" --json \
                > "$OUT/$arm-$data-$corrupt.json"
        done
    done
done
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = ["| arm | occlusion | RAF-DB acc / macro | FER2013 acc / macro | FER+ acc / macro |",
        "|---|---|---|---|---|"]
for arm in ("stage5", "off", "on"):
    for corrupt in ("none", "mask", "sunglasses", "hand", "object"):
        cells = []
        for data in ("rafdb", "fer2013", "ferplus"):
            r = json.loads((out / f"{arm}-{data}-{corrupt}.json").read_text())
            cells.append(f"{100 * r['accuracy']:.1f} / {100 * r['macro_recall']:.1f}")
        rows.append(f"| {arm} | {corrupt} | " + " | ".join(cells) + " |")
(out / "results.md").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
PY
