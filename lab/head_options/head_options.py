"""Linear heads on cached fp32 features of RAF-DB + FER2013, RAF-DB weighted by w; see README."""

import sys

import numpy as np
import torch

torch.set_num_threads(1)
torch.manual_seed(0)
EMO = ["neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt"]
F13 = [EMO.index(n) for n in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")]


def load(p):
    z = dict(np.load(p))
    return z


def probs(X, Wb):
    z = X @ Wb[0] + Wb[1]
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def score(p, y):
    p7 = p[:, F13]
    pred = np.array(F13)[p7.argmax(1)]
    acc = (pred == y).mean()
    rec = np.mean([(pred[y == c] == c).mean() for c in F13 if (y == c).any()])
    return acc, rec


raf, fer = load(sys.argv[1]), load(sys.argv[2])


def part(z, s):
    return {k: v[z["split"] == s] for k, v in z.items()}


rt, rv, ft, fv = part(raf, "train"), part(raf, "val"), part(fer, "train"), part(fer, "val")


def report(name, pr, pf):
    a1 = score(pr, rv["y"])
    a2 = score(pf, fv["y"])
    print(
        f"{name:34s} RAF acc {a1[0]:.4f} rec {a1[1]:.4f} | "
        f"FER acc {a2[0]:.4f} rec {a2[1]:.4f} | mean acc {(a1[0] + a2[0]) / 2:.4f}",
        flush=True,
    )


report("fer2013 head", rv["p13"], fv["p13"])


def cw(y, power=0.3):
    c = np.bincount(y, minlength=8).astype(float)
    w = np.where(c > 0, (c / c.sum() + 1e-9) ** -power, 0)
    return w / w[c > 0].mean()


def fitw(X, Y, sw, cls, l2, smooth=0.1):
    X = torch.tensor(X)
    Y = torch.tensor(Y)
    sw = torch.tensor(sw, dtype=torch.float32)
    W = torch.zeros(X.shape[1], 8, requires_grad=True)
    b = torch.zeros(8, requires_grad=True)
    mask = torch.zeros(8)
    mask[7] = -1e4
    cwt = torch.tensor(cls, dtype=torch.float32)
    T = Y * (1 - smooth) + smooth / 7 * (mask == 0).float()
    w = sw * cwt[Y.argmax(1)]
    opt = torch.optim.LBFGS([W, b], max_iter=300, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logp = torch.log_softmax(X @ W + b + mask, 1)
        loss = (-(T * logp).sum(1) * w).sum() / w.sum() + l2 * (W**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return W.detach().numpy(), (b + mask).detach().numpy()


X = np.concatenate([rt["feat"], rt["feat_flip"], ft["feat"], ft["feat_flip"]])
Y = np.concatenate([rt["soft"], rt["soft"], ft["soft"], ft["soft"]])
y = Y.argmax(1)
src = np.r_[np.zeros(2 * len(rt["y"])), np.ones(2 * len(ft["y"]))]
for w in [1.0, 2.0, 4.0]:
    for l2 in [1e-4]:
        sw = np.where(src == 0, w, 1.0)
        Wb = fitw(X, Y, sw, cw(y), l2)
        report(f"joint w_raf={w} l2={l2}", probs(rv["feat"], Wb), probs(fv["feat"], Wb))
Wr = fitw(X[src == 0], Y[src == 0], np.ones((src == 0).sum()), cw(y[src == 0]), 1e-4)
report("raf only l2=1e-4", probs(rv["feat"], Wr), probs(fv["feat"], Wr))
report(
    "avg(raf only, fer2013 head)",
    (probs(rv["feat"], Wr) + rv["p13"]) / 2,
    (probs(fv["feat"], Wr) + fv["p13"]) / 2,
)
