#!/usr/bin/env python3
"""PyTorch eager implementations of the benchmarked merge methods and search ops (issue #4), timed on the same
layout as bench/merge.ts so the two can be compared in one run on the GPU machine:

  python3 bench/merge_torch.py --layers 256 --json torch.json && node bench-bundle/merge.js --device cuda:0 --layers 256 --torch torch.json

Element-wise methods run on the flat tensors (one kernel chain: the most favourable setting for eager PyTorch);
TIES, breadcrumbs, slerp and model_stock run tensor by tensor as mergekit does (they need per-tensor statistics);
DARE's Bernoulli masks are drawn on the flat tensors.
"""
import argparse, json, statistics, time

import torch


def layout(layers, r):
    h, f = 4096, 11008
    segs, off = [], 0
    for _ in range(layers):
        for (i, o) in [(h, h), (h, h), (h, h), (h, h), (h, f), (h, f), (f, h)]:
            for shape in ((r, i), (o, r)):
                n = shape[0] * shape[1]
                segs.append((off, n, shape))
                off += n
    return segs, off


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json")
    a = ap.parse_args()
    dev = torch.device("cuda")
    segs, n = layout(a.layers, a.rank)
    g = torch.Generator(device=dev).manual_seed(0)
    x = [torch.rand(n, device=dev, generator=g) * 2 - 1 for _ in range(4)]
    out = torch.empty(n, device=dev)

    def timeit(fn):
        fn(); torch.cuda.synchronize()
        ts = []
        for _ in range(a.reps):
            t0 = time.perf_counter(); fn(); torch.cuda.synchronize(); ts.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(ts)

    def weighted_average():
        return (x[0] * 1.0 + x[1] * 1.0 + x[2] * 1.0) / 3.0

    def task_arithmetic():
        b = x[0]
        return b + ((x[1] - b) * 1.0 + (x[2] - b) * 1.0)

    def bwr():
        return x[0] + 0.7 * (0.3 * (x[1] - 2 * x[3]) - 0.6 * (x[2] - x[3]))

    def crossover():
        return 1.3 * x[0] + (1 - 1.3) * x[1]

    def reset():
        return x[0] * 0.4

    def ties(density=0.2):
        for (o, m, _) in segs:
            b = x[0][o:o + m]
            d = torch.stack([x[1][o:o + m] - b, x[2][o:o + m] - b])
            k = int(density * m)
            mag = d.abs()
            thr = torch.topk(mag, k, dim=1).values[:, -1:]
            d = d * (mag >= thr)
            sign = torch.where(d.sum(0) >= 0, 1.0, -1.0)
            mask = d.sign() == sign
            mixed = (d * mask).sum(0)
            div = mask.sum(0).clamp(min=1)
            out[o:o + m] = b + mixed / div
        return out

    def dare(density=0.5, ties_sign=False):
        b = x[0]
        ds = []
        for xi in (x[1], x[2]):
            mask = torch.bernoulli(torch.full_like(b, density))
            ds.append((xi - b) * mask / density)
        d = torch.stack(ds)
        if ties_sign:
            sign = torch.where(d.sum(0) >= 0, 1.0, -1.0)
            d = d * (d.sign() == sign)
        return b + d.sum(0)

    def breadcrumbs(density=0.9, gamma=0.01):
        for (o, m, _) in segs:
            b = x[0][o:o + m]
            d = torch.stack([x[1][o:o + m] - b, x[2][o:o + m] - b])
            target, ntop = int(density * m), int(gamma * m)
            mag = d.abs()
            s = torch.sort(mag, dim=1, descending=True).values
            hi = s[:, ntop - 1:ntop] if ntop > 0 else torch.full_like(s[:, :1], float("inf"))
            lo = s[:, ntop + target - 1:ntop + target]
            d = d * ((mag >= lo) & (mag < hi))
            out[o:o + m] = b + d.sum(0)
        return out

    def della(density=0.5, eps=0.2):
        # mergekit's della_magprune per tensor (ranks within rows), then sign election and disjoint mean
        for (o, m, shape) in segs:
            b = x[0][o:o + m].view(shape)
            ds = []
            for xi in (x[1], x[2]):
                d = xi[o:o + m].view(shape) - b
                ranks = torch.argsort(torch.argsort(d.abs(), dim=1), dim=1).float()
                p = (density - eps) + ranks / (shape[1] - 1) * 2 * eps
                ds.append(d * torch.bernoulli(p) / p)
            d = torch.stack(ds)
            sign = torch.where(d.sum(0) >= 0, 1.0, -1.0)
            mask = d.sign() == sign
            out[o:o + m] = (b + (d * mask).sum(0) / mask.sum(0).clamp(min=1)).view(-1)
        return out

    def slerp(t=0.3):
        for (o, m, _) in segs:
            v0, v1 = x[0][o:o + m], x[1][o:o + m]
            dot = torch.sum(v0 / v0.norm() * (v1 / v1.norm()))
            th = torch.acos(dot.clamp(-1, 1))
            s0 = torch.sin((1 - t) * th) / torch.sin(th)
            s1 = torch.sin(t * th) / torch.sin(th)
            out[o:o + m] = s0 * v0 + s1 * v1
        return out

    def model_stock():
        for (o, m, _) in segs:
            b = x[0][o:o + m]
            offs = [x[i][o:o + m] - b for i in (1, 2, 3)]
            cos = []
            for i in range(3):
                for j in range(i + 1, 3):
                    cos.append((offs[i] * offs[j]).sum() / (offs[i].norm() * offs[j].norm()).clamp(min=1e-6))
            c = torch.stack(cos).mean()
            tt = 3 * c / (1 + 2 * c)
            out[o:o + m] = tt * (x[1][o:o + m] + x[2][o:o + m] + x[3][o:o + m]) / 3 + (1 - tt) * b
        return out

    ops = {
        "copy": lambda: out.copy_(x[0]),
        "weighted_average": weighted_average,
        "task_arithmetic": task_arithmetic,
        "bwr update": bwr,
        "crossover": crossover,
        "reset": reset,
        "ties": ties,
        "dare": dare,
        "dare_ties": lambda: dare(ties_sign=True),
        "breadcrumbs": breadcrumbs,
        "della": della,
        "slerp": slerp,
        "model_stock": model_stock,
    }
    ms = {}
    for k, fn in ops.items():
        ms[k] = timeit(fn)
        print(f"torch eager {k:17s} {ms[k]:9.3f} ms", flush=True)
    if a.json:
        json.dump({"layers": a.layers, "rank": a.rank, "floats": n, "device": torch.cuda.get_device_name(), "torch": torch.__version__, "ms": ms}, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
