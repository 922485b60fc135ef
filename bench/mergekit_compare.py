"""Our merges against mergekit's own code on the same tensors (issue #12).

Runs mergekit's functions from a mergekit checkout (never copied into this repository): mergekit/sparsify.py as it is
(magnitude, magnitude_outliers, bernoulli, della_magprune, rescaled_masked_tensor), and from
mergekit/merge_methods/generalized_task_arithmetic.py and linear.py the functions GTATask.execute, get_task_vectors,
get_mask and LinearMergeTask.execute, taken out of the files' syntax trees and run on a stand-in `self` (their modules
import mergekit's whole configuration layer, which needs packages this check has no use for).

What can be compared:
  - linear, task_arithmetic, ties, breadcrumbs(_ties): deterministic; mergekit's whole pipeline against ours.
  - dare_* and della*: mergekit draws masks with torch.bernoulli, we with a counter-based RNG; no seed makes them
    agree. torch.bernoulli is replaced (in sparsify's namespace only) by a function that returns OUR keep decisions,
    after checking that the probabilities mergekit asks it to draw with are ours (DELLA's rank -> probability rule:
    'max |p - ours|'). Everything after the draw -- rescaled_masked_tensor's L1 rescale, weights, the sign election,
    the sums, normalize, lambda -- is mergekit's code.
Every case passes when max |ours - mergekit| <= 2e-7 (float32 both sides). For TIES and breadcrumbs the masks are
compared too: the kept set of every (model, tensor) against what our merge of that model alone kept -- the same count,
and the same multiset of kept magnitudes ('masks'). On tied magnitudes (--tied 1 data) the outputs cannot agree:
which of equal magnitudes at a cut mergekit keeps is the order of torch's (unstable) sort, so there the masks check
is the comparison, and --stable-sort shows what a stable sort would give.

  node --import tsx bench/mergekit-compare.ts --out /tmp/mergekit-compare
  python bench/mergekit_compare.py --mergekit PATH_TO_MERGEKIT --dir /tmp/mergekit-compare [--stable-sort]
"""

import argparse
import ast
import importlib.util
import json
import logging
import sys
import types
import typing
from pathlib import Path

import numpy as np
import torch

TOL = 2e-7


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def functions_from(path: Path, wanted: dict, namespace: dict) -> dict:
    """the functions `wanted` ({qualified name: name to bind}) of a source file, defined in `namespace`
    (annotations left unevaluated: they name mergekit's configuration classes)"""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in wanted:
            found[node.name] = node
        if isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef) and f"{node.name}.{sub.name}" in wanted:
                    found[f"{node.name}.{sub.name}"] = sub
    missing = set(wanted) - set(found)
    if missing:
        sys.exit(f"{path}: no {', '.join(sorted(missing))} (mergekit changed?)")
    for q, node in found.items():
        node.name = wanted[q]
        node.decorator_list = []
        mod = ast.Module(body=[node], type_ignores=[])
        code = compile(mod, str(path), "exec", flags=__import__("__future__").annotations.compiler_flag, dont_inherit=True)
        exec(code, namespace)
    return namespace


class MaskFeed:
    """stands in for torch inside sparsify.py: bernoulli(probs) returns the next of our masks, after checking probs"""

    def __init__(self):
        self.masks = []
        self.probs = []
        self.max_prob_diff = 0.0
        self.stable = False

    def __getattr__(self, name):
        return getattr(torch, name)

    def sort(self, *a, **k):
        return torch.sort(*a, **k, stable=True) if self.stable else torch.sort(*a, **k)

    def argsort(self, *a, **k):
        return torch.argsort(*a, **k, stable=True) if self.stable else torch.argsort(*a, **k)

    def bernoulli(self, probs):
        mask, ours = self.masks.pop(0), self.probs.pop(0)
        self.max_prob_diff = max(self.max_prob_diff, (probs.double() - ours.reshape(probs.shape).double()).abs().max().item())
        return mask.reshape(probs.shape).to(probs.dtype)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mergekit", required=True, type=Path, help="a checkout of github.com/arcee-ai/mergekit")
    ap.add_argument("--dir", default="/tmp/mergekit-compare", type=Path, help="bench/mergekit-compare.ts's --out")
    ap.add_argument("--stable-sort", action="store_true", help="give sparsify.py's sort and argsort stable=True")
    args = ap.parse_args()
    src = args.mergekit / "mergekit"
    if not (src / "sparsify.py").exists():
        sys.exit(f"--mergekit: {args.mergekit} has no mergekit/sparsify.py (expected a mergekit checkout)")

    sparsify_mod = load_module(src / "sparsify.py", "mergekit_sparsify")
    feed = MaskFeed()
    feed.stable = args.stable_sort
    sparsify_mod.torch = feed
    # the masks mergekit's magnitude / magnitude_outliers apply, in the order of the calls
    applied = []
    rescaled = sparsify_mod.rescaled_masked_tensor

    def recording(tensor, mask, norm, eps=1e-7):
        applied.append((tensor.abs().reshape(-1).clone(), mask.reshape(-1).clone()))
        return rescaled(tensor, mask, norm, eps)

    sparsify_mod.rescaled_masked_tensor = recording
    ns = {
        "torch": torch, "logging": logging, "sparsify": sparsify_mod.sparsify, "RescaleNorm": sparsify_mod.RescaleNorm,
        "SparsificationMethod": sparsify_mod.SparsificationMethod, "rectify_embed_sizes": lambda weight_info, tensors: None,
        **{k: getattr(typing, k) for k in ("Any", "Dict", "List", "Optional", "Tuple")}, "Literal": typing.Literal,
    }
    functions_from(src / "merge_methods/generalized_task_arithmetic.py",
                   {"GTATask.execute": "gta_execute", "get_task_vectors": "get_task_vectors", "get_mask": "get_mask"}, ns)
    functions_from(src / "merge_methods/linear.py", {"LinearMergeTask.execute": "linear_execute"}, ns)

    d = args.dir
    manifest = json.loads((d / "manifest.json").read_text())
    f32 = lambda name: torch.from_numpy(np.fromfile(d / name, dtype=np.float32))
    base, xs = f32("base.f32"), [f32(f"x{m}.f32") for m in range(3)]
    rows = []
    for c in manifest["cases"]:
        mk = c["mergekit"]
        ours = f32(f"ours_{c['file']}.f32")
        got = torch.empty_like(ours)
        topk = mk["sparsification"] in ("magnitude", "magnitude_outliers")
        ours_keep = [torch.from_numpy(np.fromfile(d / f"keep_{c['file']}_{m}.u8", dtype=np.uint8)) for m in range(3)] if topk else []
        masks_ok = True
        for t in manifest["tensors"]:
            sl = slice(t["offset"], t["offset"] + t["size"])
            shape = t["shape"]
            info = types.SimpleNamespace(name=t["name"], is_embed=False)
            if mk.get("linear"):
                models = ["base", "m0", "m1", "m2"]
                tensors = {k: v[sl].reshape(shape).clone() for k, v in zip(models, [base, *xs])}
                params = {k: {"weight": wt} for k, wt in zip(models, c["weights"])}
                self = types.SimpleNamespace(tensor_parameters=params, normalize=mk["normalize"], weight_info=info)
                res = ns["linear_execute"](self, tensors)
            else:
                tensors = {"base": base[sl].reshape(shape).clone(), **{f"m{m}": xs[m][sl].reshape(shape).clone() for m in range(3)}}
                params = {"base": {}}
                for m in range(3):
                    p = {"weight": c["weights"][m], "density": c.get("density", 1.0)}
                    if mk["sparsification"] == "magnitude_outliers":
                        p["gamma"] = c["gamma"]
                    if mk["sparsification"] == "della_magprune":
                        p["epsilon"] = c["epsilon"]
                    params[f"m{m}"] = p
                    if c.get("mask"):
                        feed.masks.append(torch.from_numpy(np.fromfile(d / f"mask_{c['file']}_{m}.u8", dtype=np.uint8)[sl].copy()).float())
                        feed.probs.append(f32(f"prob_{c['file']}_{m}.f32")[sl])
                method = types.SimpleNamespace(
                    sparsification_method=sparsify_mod.SparsificationMethod(mk["sparsification"]) if mk["sparsification"] else None,
                    consensus_method=mk["consensus"],
                )
                self = types.SimpleNamespace(
                    method=method, base_model="base", weight_info=info, tensor_parameters=types.SimpleNamespace(data=params),
                    int8_mask=False, normalize=mk["normalize"], lambda_=mk["lambda"],
                    rescale_norm=sparsify_mod.RescaleNorm.l1 if mk["rescale"] else None,
                )
                applied.clear()
                res = ns["gta_execute"](self, tensors)
                for m, (mag, mask) in enumerate(applied if topk else []):
                    mine = ours_keep[m][sl].bool()
                    theirs = mask.bool()
                    same = mine.sum() == theirs.sum() and torch.equal(mag[mine].sort().values, mag[theirs].sort().values)
                    masks_ok = masks_ok and bool(same)
            got[sl] = res.reshape(-1).float()
        if feed.masks:
            sys.exit(f"{c['name']}: mergekit drew {len(feed.masks)} masks fewer than expected")
        diff = (ours.double() - got.double()).abs().max().item()
        kind = "our masks" if c.get("mask") else "deterministic"
        rows.append((c["name"], kind, diff, diff / got.abs().max().item(), feed.max_prob_diff if c.get("mask") == "della" else None,
                     masks_ok if topk else None, diff <= TOL))
        feed.max_prob_diff = 0.0

    data = "one model's magnitudes tied" if manifest.get("tied") else "continuous"
    print(f"mergekit {args.mergekit} vs ours, {sum(t['size'] for t in manifest['tensors'])} values in {len(manifest['tensors'])} tensors ({data}), "
          f"torch {torch.__version__}, {'stable' if args.stable_sort else 'torch'} sort")
    print(f"| method | compared | max abs diff | max diff / max abs | max abs p - ours (DELLA) | masks (TIES, breadcrumbs) | <= {TOL:g} |")
    print("|---|---|---|---|---|---|---|")
    for name, kind, diff, rel, pd, mok, ok in rows:
        masks = "" if mok is None else "same" if mok else "DIFFER"
        print(f"| {name} | {kind} | {diff:.3g} | {rel:.3g} | {'' if pd is None else f'{pd:.3g}'} | {masks} | {'pass' if ok else 'FAIL'} |")
    sys.exit(0 if all(r[-1] and r[-2] is not False for r in rows) else 1)


if __name__ == "__main__":
    main()
