"""HF transformers reference for the evaluator (issue #5): greedy `generate` of the base model and of every
PEFT expert on each task's questions, plus the time it took. Runs on the GPU machine:

    python3 scripts/gpu/hf_reference.py --zoo initial_experts --data data/eval --split dev --out OUT.json

`npm run eval:compare-hf -- OUT.json` then checks that our onnxruntime predictions equal these.
"""
import argparse
import json
import os
import time

import torch
from peft import PeftModel
from transformers import AutoTokenizer, LlamaForCausalLM

def is_choice(item):
    return "choices" in item


def prompt(item):
    if not is_choice(item):
        return f"Q: {item['question']}\nA: "
    t = item["choices"]["text"]
    labels = item["choices"]["label"]
    return f"Q: {item['question']}\n" + " ".join(f"({l}) {x}" for l, x in zip(labels, t)) + "\nA: "


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", default="initial_experts")
    ap.add_argument("--data", default="data/eval")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base_dir = os.path.join(args.zoo, "base")
    tok = AutoTokenizer.from_pretrained(base_dir)
    tok.padding_side = "left"
    experts = sorted(d for d in os.listdir(args.zoo) if os.path.isfile(os.path.join(args.zoo, d, "adapter_config.json")))
    tasks = sorted(f[:-5] for f in os.listdir(args.data) if f.endswith(".json"))
    data = {t: json.load(open(os.path.join(args.data, f"{t}.json")))[args.split] for t in tasks}
    if args.limit:
        data = {t: items[: args.limit] for t, items in data.items()}
    out = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "split": args.split,
           "multipleChoice": [t for t in tasks if is_choice(data[t][0])], "predictions": {}, "timing": {}}
    for name in ["base"] + experts:
        model = LlamaForCausalLM.from_pretrained(base_dir, dtype=torch.float32).to(device)
        if name != "base":
            model = PeftModel.from_pretrained(model, os.path.join(args.zoo, name)).to(device)
        model.eval()
        out["predictions"][name] = {}
        for task in tasks:
            items = data[task]
            enc = tok([prompt(it) for it in items], return_tensors="pt", padding=True).to(device)
            max_new = 3 if is_choice(items[0]) else 16
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            with torch.no_grad():
                gen = model.generate(**enc, do_sample=False, max_new_tokens=max_new, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
            if device == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            new = gen[:, enc["input_ids"].shape[1]:]
            out["predictions"][name][task] = tok.batch_decode(new, skip_special_tokens=True)
            out["timing"].setdefault(task, []).append({"model": name, "questions": len(items), "seconds": seconds})
            print(f"{name:12s} {task:14s} {len(items)} questions in {seconds:.3f} s", flush=True)
    with open(args.out, "w") as f:
        json.dump(out, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
