#!/usr/bin/env bash
# Stage 4 on one GPU, from a `ferkit data pack` file: three fernet_l teachers side by side,
# then two fernet_s students distilled from their averaged outputs (one with mixup), each run
# sized by train.time_budget, then scores both groups (teachers.json, students.json). The
# student with the better validation score is the candidate.
#   ferkit data pack ../shared/datasets/{fer2013,ferplus,ckplus} --out combined.npz
#   bash lab/tools/train_stage4.sh combined.npz runs   # ~9 minutes on one H200
# TEACHER_S / STUDENT_S set the budgets (seconds); EXTRA adds --set overrides to every run,
# TEACHER_EXTRA and STUDENT_EXTRA to the teachers' or the students' runs alone, e.g.
#   STUDENT_EXTRA="--set train.batch_size=512 --set train.lr=0.008" bash lab/tools/train_stage4.sh ...
set -uo pipefail
pack=$1 runs=$2
t_s=${TEACHER_S:-200} s_s=${STUDENT_S:-190}
mkdir -p "$runs"
train() {  # NAME KILL_AFTER ferkit-train-args...
    local name=$1 limit=$2
    shift 2
    timeout "$limit" python3 -m ferkit train --out "$runs/$name" --overwrite \
        --set "data.prepared=$pack" "$@" ${EXTRA:-} > "$runs/$name.log" 2>&1
    echo "$name: exit $? $(tail -n 3 "$runs/$name.log" | tr '\r' '\n' | tail -n 1)"
}
# A run that overruns its budget is stopped; its best.pt so far still counts.
for i in 1 2 3; do
    train "teacher-$i" $((t_s + 60)) --config lab/configs/teacher.yaml \
        --set "train.time_budget=$t_s" --set "train.seed=1$i" ${TEACHER_EXTRA:-} &
done
wait
teachers="[$runs/teacher-1/best.pt,$runs/teacher-2/best.pt,$runs/teacher-3/best.pt]"
train stage4 $((s_s + 60)) --config lab/configs/stage4.yaml --set "train.teachers=$teachers" \
    --set "train.time_budget=$s_s" ${STUDENT_EXTRA:-} &
train stage4-mixup $((s_s + 60)) --config lab/configs/stage4.yaml --set "train.teachers=$teachers" \
    --set "train.time_budget=$s_s" --set train.mixup_prob=0.5 --set train.mixup_alpha=0.4 \
    ${STUDENT_EXTRA:-} &
wait
python3 lab/tools/score_checkpoints.py --prepared "$pack" "$runs"/teacher-?/best.pt \
    > "$runs/teachers.json"
cat "$runs/teachers.json"
python3 lab/tools/score_checkpoints.py --prepared "$pack" "$runs"/stage4/best.pt \
    "$runs"/stage4-mixup/best.pt > "$runs/students.json"
cat "$runs/students.json"
