"""Loads adapters written by our searches (global_best folders) with PEFT and checks that HF transformers
generates what our evaluator predicted for them. Runs on the GPU machine:

    python3 scripts/gpu/check_search_adapters.py --predictions OURS.json [--base initial_experts/base]

OURS.json maps each adapter folder to our greedy answers on the first mgsm_ja dev questions.
"""
import argparse
import json

import torch
from peft import PeftModel
from transformers import AutoTokenizer, LlamaForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="initial_experts/base")
    ap.add_argument("--data", default="data/eval/mgsm_ja.json")
    ap.add_argument("--predictions", required=True)
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tok = AutoTokenizer.from_pretrained(args.base)
    tok.padding_side = "left"
    ours = json.load(open(args.predictions))
    items = json.load(open(args.data))["dev"]
    ok = True
    for folder, predictions in ours.items():
        model = PeftModel.from_pretrained(LlamaForCausalLM.from_pretrained(args.base, dtype=torch.float32), folder).to(device).eval()
        prompts = [f"Q: {it['question']}\nA: " for it in items[: len(predictions)]]
        enc = tok(prompts, return_tensors="pt", padding=True).to(device)
        with torch.no_grad():
            gen = model.generate(**enc, do_sample=False, max_new_tokens=16, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        theirs = tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        same = sum(a == b for a, b in zip(theirs, predictions))
        rank = model.peft_config["default"].r
        print(f"{folder}: PEFT loaded it (r={rank}); {same}/{len(predictions)} greedy answers equal ours")
        ok = ok and same == len(predictions)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
