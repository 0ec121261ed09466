"""Turn an exported fernet ONNX file back into a checkpoint `train.init_from` can start from.

    python lab/tools/onnx_to_checkpoint.py lab/models/stage4f-fp32.onnx \
        --copy-head rafdb=fer2013 --out runs/stage4f-import/best.pt

The shipped backbone (stage 4f) exists only as ONNX: its GPU chain's checkpoints are gone.
Export folded every BatchNorm into the convolution before it, so each one is rebuilt from the
statistics of real faces (FER2013 and RAF-DB training faces, never validation ones): its
running mean and variance are those of the convolution's output, and its scale and shift
undo them. The network then computes exactly what the ONNX file computes in eval mode
(checked below), and in train mode its batch statistics start where the population's are,
so fine-tuning does not start from a jolt. `--copy-head NEW=OLD` starts a head the file
lacks (RAF-DB's) as a copy of one it has. `--color bgr` gives the grey network a colour input:
the first convolution's weights are split over B, G and R as the grey it was trained on was
made of them, so every face reads as before (up to uint8 rounding) and colour can be learnt
from there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from torch import nn

from ferkit.datasets import read_source
from ferkit.pixels import face_pixels
from ferkit.train.loop import to_input
from ferkit.train.models import create_model


def read_meta(proto: onnx.ModelProto) -> dict:
    """The metadata `ferkit export` writes (architecture, heads, input size, ...), parsed."""
    return {p.key: json.loads(p.value) for p in proto.metadata_props}


def onnx_weights(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Every initializer as float32, fp16-stored ones (name_fp16 behind a Cast) by their name."""
    arrays = {}
    for init in model.graph.initializer:
        name = init.name.removesuffix("_fp16")
        arrays[name] = numpy_helper.to_array(init).astype(np.float32)
    return arrays


def conv_pairs(net: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """Each convolution with the BatchNorm after it, in the order `forward` runs them
    (stem, then per block: body 1, body 2, shortcut), which is the ONNX graph's order."""
    modules = list(net.modules())
    pairs = [(m, modules[i + 1]) for i, m in enumerate(modules) if isinstance(m, nn.Conv2d)]
    if not all(isinstance(bn, nn.BatchNorm2d) for _, bn in pairs):
        raise SystemExit("expected every convolution to be followed by a BatchNorm")
    return pairs


def sample_faces(sources: list[str], per_source: int, size: int) -> np.ndarray:
    """`per_source` training faces of each source, spread evenly over its whole training
    split (readers walk class folders in order: the first faces would all be one class)."""
    faces = []
    for spec in sources:
        samples = list(read_source(spec, splits=["train"]))
        if not samples:
            raise SystemExit(f"{spec}: no training faces")
        picks = np.linspace(0, len(samples) - 1, min(per_source, len(samples))).astype(int)
        faces.extend(face_pixels(samples[i].image, size, "gray") for i in picks)
    return np.stack(faces)


def rebuild(onnx_file: str | Path, faces: np.ndarray,
            copies: dict[str, str] | None = None) -> tuple[nn.Module, dict]:
    """The torch network that computes what `onnx_file` computes, its BatchNorms re-expressed
    around the statistics of `faces` (uint8, the model's input size); with its metadata."""
    proto = onnx.load(str(onnx_file))
    meta = read_meta(proto)
    arrays = onnx_weights(proto)
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    heads = list(meta["heads"])
    copies = copies or {}
    net = create_model(meta["architecture"], heads=heads + list(copies),
                       input_size=meta["input_size"], in_channels=1).eval()
    pairs = conv_pairs(net)
    if len(pairs) != len(convs):
        raise SystemExit(f"{onnx_file}: {len(convs)} convolutions, {meta['architecture']} "
                         f"has {len(pairs)}")
    for (conv, bn), node in zip(pairs, convs, strict=True):
        conv.weight.data = torch.from_numpy(arrays[node.input[1]])
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)
        bn.weight.data.fill_(1.0)
        bn.bias.data = torch.from_numpy(arrays[node.input[2]])
    for head in heads:
        net.heads[head].weight.data = torch.from_numpy(arrays[f"net.heads.{head}.weight"])
        net.heads[head].bias.data = torch.from_numpy(arrays[f"net.heads.{head}.bias"])
    for new, old in copies.items():
        net.heads[new].load_state_dict(net.heads[old].state_dict())

    x = to_input(faces)
    outputs: dict[nn.Conv2d, torch.Tensor] = {}
    hooks = [conv.register_forward_hook(lambda m, _i, o: outputs.__setitem__(m, o.detach()))
             for conv, _ in pairs]
    with torch.no_grad():
        net(x)
    for hook in hooks:
        hook.remove()
    for conv, bn in pairs:
        u = outputs[conv].transpose(0, 1).flatten(1)
        mean, var = u.mean(1), u.var(1)
        shift = bn.bias.data.clone()
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.weight.data = torch.sqrt(var + bn.eps)
        bn.bias.data = shift + mean
    return net, meta


def onnx_drift(net: nn.Module, onnx_file: str | Path, meta: dict, faces: np.ndarray,
               net_faces: np.ndarray | None = None) -> dict:
    """Per head, the largest difference between the network's and the ONNX file's
    probabilities on `faces` (given to the network as `net_faces`, e.g. in colour)."""
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    reference = session.run(None, {meta["input_name"]: to_input(faces).numpy()})
    with torch.no_grad():
        mine = net.eval()(to_input(faces if net_faces is None else net_faces))
    return {head: float(np.abs(torch.softmax(mine[head], 1).numpy() - probs).max())
            for head, probs in zip(meta["heads"], reference, strict=True)}


#: The weights of B, G and R in the grey the network was trained on (cv2.COLOR_BGR2GRAY).
LUMA_BGR = (0.114, 0.587, 0.299)


def inflate_to_bgr(net: nn.Module, meta: dict, copies: dict[str, str]) -> nn.Module:
    """The same network reading BGR: the first convolution's grey weights split over the
    channels as grey is made of them, so a colour face reads (up to uint8 rounding) as its
    grey conversion did, and a grey one (B = G = R) exactly as before."""
    colour = create_model(meta["architecture"], heads=list(meta["heads"]) + list(copies),
                          input_size=meta["input_size"], in_channels=3).eval()
    state = net.state_dict()
    first = conv_pairs(net)[0][0]
    name = next(k for k, v in net.named_parameters() if v is first.weight)
    luma = torch.tensor(LUMA_BGR).view(1, 3, 1, 1)
    state[name] = state[name] * luma
    colour.load_state_dict(state)
    return colour


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("onnx_file")
    parser.add_argument("--out", required=True)
    parser.add_argument("--copy-head", action="append", default=[], metavar="NEW=OLD")
    parser.add_argument("--color", choices=("gray", "bgr"), default="gray",
                        help="input the checkpoint's network reads (default: the file's gray)")
    parser.add_argument("--stats-data", action="append", metavar="SOURCE",
                        help="training faces for the BatchNorm statistics "
                             "(default: FER2013's and RAF-DB's in ../shared/datasets)")
    parser.add_argument("--per-source", type=int, default=2000)
    args = parser.parse_args()

    size = int(read_meta(onnx.load(args.onnx_file, load_external_data=False))["input_size"])
    sources = args.stats_data or ["../shared/datasets/fer2013", "../shared/datasets/rafdb"]
    faces = sample_faces(sources, args.per_source, size)
    copies = dict(spec.split("=", 1) for spec in args.copy_head)
    net, meta = rebuild(args.onnx_file, faces, copies)
    for head, drift in onnx_drift(net, args.onnx_file, meta, faces).items():
        print(f"{head}: max |p - onnx| {drift:.2e}")
        if drift > 1e-3:
            raise SystemExit(f"{head}: the rebuilt network differs from the ONNX file")
    if args.color == "bgr":
        net = inflate_to_bgr(net, meta, copies)
        grey = np.repeat(faces[..., None], 3, axis=-1)
        drift = onnx_drift(net, args.onnx_file, meta, faces, grey)
        print(f"as BGR, on grey faces: max |p - onnx| {max(drift.values()):.2e}")
        if max(drift.values()) > 1e-3:
            raise SystemExit("the colour network differs from the ONNX file on grey faces")
    heads = list(meta["heads"]) + list(copies)
    config = {"data": {"sources": [], "input_size": size, "color": args.color},
              "model": {"name": meta["architecture"], "dropout": 0.3},
              "imported_from": str(args.onnx_file)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": net.state_dict(), "config": config, "heads": heads, "epoch": 0}, out)
    print(f"wrote {out} (heads {heads}; BatchNorm statistics from {len(faces)} faces)")


if __name__ == "__main__":
    main()
