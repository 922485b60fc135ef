#!/usr/bin/env python3
"""Checks that adapters merged by our TypeScript code load with PEFT (issue #4).

Builds a tiny LlamaForCausalLM and two PEFT LoRA adapters with random (non-zero) weights, merges them with
scripts/merge-adapters.ts (through NODE and the given script, e.g. a bundled .js) for several methods, then loads
base + merged adapter with peft.PeftModel.from_pretrained and checks: every LoRA weight PEFT loaded equals what we
wrote, the task-arithmetic/weighted-average results equal a PyTorch computation, and a forward pass is finite.
If initial_experts/ holds a zoo (base/ + adapters), two of its adapters are merged and loaded too.

  python3 scripts/peft-load-check.py --merge "node --import tsx scripts/merge-adapters.ts" [--device cuda:0] [--work DIR]
"""
import argparse, glob, json, os, shlex, subprocess, sys, tempfile

import torch
from safetensors.torch import load_file
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM


def run_merge(cmd, method, params, out, experts, device):
    argv = shlex.split(cmd) + ["--merge_method", method, "--merge_params", json.dumps(params), "--out", out, "--device", device, *experts]
    r = subprocess.run(argv, capture_output=True, text=True)
    print(r.stdout.strip() or r.stderr.strip())
    if r.returncode != 0:
        raise SystemExit(f"merge failed ({method}): {r.stderr}")


def check_loaded(base_dir, adapter_dir, dtype=torch.float32):
    base = LlamaForCausalLM.from_pretrained(base_dir, dtype=dtype)
    model = PeftModel.from_pretrained(base, adapter_dir)
    written = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    state = model.state_dict()
    n = 0
    for k, v in written.items():
        # PEFT's in-memory names carry the adapter name: ...lora_A.default.weight
        mk = k.replace(".lora_A.weight", ".lora_A.default.weight").replace(".lora_B.weight", ".lora_B.default.weight")
        assert mk in state, f"{adapter_dir}: PEFT did not load {k}"
        assert torch.equal(state[mk].float().cpu(), v.float()), f"{adapter_dir}: {k} differs after loading"
        n += 1
    lora_in_model = [k for k in state if ".lora_" in k]
    assert n == len(lora_in_model), f"{adapter_dir}: wrote {n} LoRA tensors, PEFT model has {len(lora_in_model)}"
    ids = torch.randint(0, base.config.vocab_size, (2, 12))
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert torch.isfinite(logits).all(), f"{adapter_dir}: non-finite logits"
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--merge", required=True, help="command that runs scripts/merge-adapters.ts")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="peft-check-")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=172, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=4, max_position_embeddings=64)
    base = LlamaForCausalLM(cfg)
    base_dir = os.path.join(work, "base")
    base.save_pretrained(base_dir)
    experts = []
    for i in range(3):
        torch.manual_seed(100 + i)
        m = get_peft_model(LlamaForCausalLM.from_pretrained(base_dir), LoraConfig(
            r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
            init_lora_weights=False, task_type="CAUSAL_LM"))
        d = os.path.join(work, f"expert{i}")
        m.save_pretrained(d)
        experts.append(d)
    tensors = [load_file(os.path.join(d, "adapter_model.safetensors")) for d in experts]
    results = {}
    cases = [
        ("weighted_average", {}),
        ("task_arithmetic", {"base_model_idx": 0}),
        ("ties", {"threshold": 0.01}),
        ("ties", {"density": 0.3}),
        ("dare", {"threshold": 0.01, "amplification_factor": 2.0, "base_model_idx": 0}),
        ("dare_ties", {"density": 0.5, "seed": 3}),
        ("breadcrumbs", {}),
        ("della", {"density": 0.5, "epsilon": 0.2}),
        ("model_stock", {}),
    ]
    for method, params in cases:
        out = os.path.join(work, f"merged-{method}-{len(results)}")
        run_merge(args.merge, method, params, out, experts, args.device)
        n = check_loaded(base_dir, out)
        merged = load_file(os.path.join(out, "adapter_model.safetensors"))
        if method in ("weighted_average", "task_arithmetic"):
            for k in merged:
                x = [t[k].double() for t in tensors]
                ref = sum(x) / 3 if method == "weighted_average" else x[0] + (x[1] - x[0]) + (x[2] - x[0])
                err = (merged[k].double() - ref).abs().max() / ref.abs().max()
                assert err <= 1e-6, f"{method}: {k} relative error {err}"
        results[f"{method} {json.dumps(params)}"] = f"loaded by PEFT ({n} LoRA tensors identical, forward finite)"
    # slerp needs exactly two models
    out = os.path.join(work, "merged-slerp")
    run_merge(args.merge, "slerp", {"t": 0.3}, out, experts[:2], args.device)
    results["slerp {\"t\": 0.3}"] = f"loaded by PEFT ({check_loaded(base_dir, out)} LoRA tensors identical, forward finite)"
    # the bundled zoo, when it is there
    zoo = "initial_experts"
    zoo_adapters = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(zoo, "*", "adapter_model.safetensors")))
    if os.path.isdir(os.path.join(zoo, "base")) and len(zoo_adapters) >= 2:
        out = os.path.join(work, "merged-zoo")
        run_merge(args.merge, "ties", {"density": 0.5}, out, zoo_adapters[:3], args.device)
        results[f"zoo ties {zoo_adapters[:3]}"] = f"loaded by PEFT ({check_loaded(os.path.join(zoo, 'base'), out)} LoRA tensors identical, forward finite)"
    else:
        results["zoo"] = "initial_experts/ not complete here; skipped"
    print(json.dumps({"peft_load_check": "ok", "results": results}, indent=1))


if __name__ == "__main__":
    main()
