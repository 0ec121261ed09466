"""Cache penultimate features of the shipped int8 model for train/val faces of each source."""

import os
import sys

import cv2
import numpy as np
import onnx
import onnxruntime as ort

from ferkit.datasets.ferplus import soft_label
from ferkit.datasets.sources import read_source
from ferkit.labels import EMOTIONS

FEAT = os.environ.get("FEAT", "/net/Flatten_output_0_DequantizeLinear_Output")
m = onnx.load(os.environ.get("MODEL", "src/ferkit/models/fernet.onnx"))
m.graph.output.append(onnx.helper.make_tensor_value_info(FEAT, onnx.TensorProto.FLOAT, None))
so = ort.SessionOptions()
so.intra_op_num_threads = 2
sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
outs = [FEAT, "probs_fer2013", "probs_ferplus"]


def run(faces):
    x = ((np.stack(faces).astype(np.float32) / 255 - 0.5) / 0.25)[:, None]
    res = [[] for _ in outs]
    for i in range(0, len(x), 256):
        for k, r in enumerate(sess.run(outs, {"faces": x[i : i + 256]})):
            res[k].append(r)
    return [np.concatenate(r) for r in res]


src, splits = sys.argv[1], sys.argv[2].split(",")
faces, labels, soft, spl = [], [], [], []
for s in read_source(src, splits=splits):
    if s.split not in splits:
        continue
    img = (
        s.image
        if s.image.shape == (48, 48)
        else cv2.resize(s.image, (48, 48), interpolation=cv2.INTER_AREA)
    )
    if s.votes is not None:
        v = soft_label(s.votes)
        if not v.any():
            continue
        soft.append(v)
        labels.append(int(np.argmax(v)))
    else:
        labels.append(EMOTIONS.index(s.label))
        soft.append(np.eye(8, dtype=np.float32)[labels[-1]])
    faces.append(img)
    spl.append(s.split)
f, p13, pfp = run(faces)
ff, p13f, pfpf = run([x[:, ::-1] for x in faces])
np.savez(
    sys.argv[3],
    feat=f,
    feat_flip=ff,
    p13=p13,
    pfp=pfp,
    p13f=p13f,
    pfpf=pfpf,
    y=np.array(labels),
    soft=np.array(soft),
    split=np.array(spl),
)
print(sys.argv[3], f.shape)
