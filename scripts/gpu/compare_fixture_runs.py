"""Compares a fresh run of make_tiny_hf_models.py (`--out DIR`) with the committed tests/fixtures/hf: files that are
byte-identical, and for the others the largest difference of any number (JSON) or tensor (safetensors), ignoring the
library versions the files record:

    python3 scripts/gpu/make_tiny_hf_models.py --out /tmp/fx && python3 scripts/gpu/compare_fixture_runs.py /tmp/fx
"""
import filecmp, json, os, sys
from safetensors.torch import load_file
new, old = sys.argv[1], "tests/fixtures/hf"
same = differ = 0
notes = []
def walk(a, b, where):
    if isinstance(a, dict):
        return max([walk(a[k], b.get(k), f"{where}.{k}") for k in a if k not in ("transformers_version", "made_with")] + [0.0])
    if isinstance(a, list):
        if len(a) != len(b): notes.append(f"{where}: length {len(a)} vs {len(b)}"); return float("inf")
        return max([walk(x, y, f"{where}[{i}]") for i, (x, y) in enumerate(zip(a, b))] + [0.0])
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b)
    if a != b: notes.append(f"{where}: {a!r} vs {b!r}"); return float("inf")
    return 0.0
for root, _, files in os.walk(new):
    for f in files:
        n = os.path.join(root, f); o = os.path.join(old, os.path.relpath(n, new))
        if filecmp.cmp(n, o, shallow=False): same += 1; continue
        differ += 1
        if f.endswith(".json"):
            d = walk(json.load(open(o)), json.load(open(n)), os.path.relpath(o, old))
            notes.append(f"{os.path.relpath(o, old)}: largest float difference {d:.3g}")
        elif f.endswith(".safetensors"):
            a, b = load_file(o), load_file(n)
            d = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
            notes.append(f"{os.path.relpath(o, old)}: largest tensor difference {d:.3g}")
        else: notes.append(f"{os.path.relpath(o, old)}: differs")
print(f"{same} files byte-identical, {differ} differ"); print("\n".join(n for n in notes if "version" not in n and "made_with" not in n))
