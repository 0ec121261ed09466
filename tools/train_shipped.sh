#!/usr/bin/env bash
# The shipped classifier in one resumable command: two networks, averaged in one file. About
# 8 hours on 2 idle CPU cores; run it again after an interruption and each step resumes from
# its last finished epoch in runs/.
#   bash tools/train_shipped.sh
# 1. tools/train_stage5.sh: stage 5o, grey, from stage 4f's backbone
#    (lab/models/stage4f-fp32.onnx, whose history has a GPU stage: lab/HISTORY.md); about
#    76 minutes of training and 11 of steps 2-4, into runs/stage5o.
# 2. lab/tools/scratch30.sh: the colour network from random weights (30 epochs, then one with
#    occluded faces, then steps 2-4; 6.0 hours as run, then 22 minutes), into
#    runs/scratch30-bgr-occlude. FROM_SCRATCH=1 keeps it from unpacking the state carried in
#    lab/carry/scratch30-bgr, so that it trains from epoch 1.
# 3. tools/make_pair.sh: both merged into one file, temperatures fitted, every validation set
#    scored (runs/pair/eval, beside the shipped model's docs/eval/shipped); about 12 minutes.
# Nothing in the package changes. To ship the result:  cp runs/pair/fernet.onnx src/ferkit/models/
set -euo pipefail
bash tools/train_stage5.sh
FROM_SCRATCH=1 bash lab/tools/scratch30.sh
FIRST=runs/stage5o/fernet.onnx bash tools/make_pair.sh
