"""HF transformers + PEFT, float16, on the workload of bench/eval-throughput.ts (issue #15): the baseline the product's
evaluator is measured against, run on the same GPU in the same session.

    python3 scripts/gpu/eval_throughput_hf.py --folder /tmp/scale/llama-1.1b [--candidates 10] [--prompts 64] [--new-tokens 32]

FOLDER holds model/ and adapter/ (scripts/gpu/make_scale_models.py), or, with --keep-inputs, model/, adapters/c*
and prompts.json (scripts/gpu/expand_zoo.py), used as they are. Without it, writes FOLDER/adapters/c0..c{N-1} (PEFT
adapters: the folder's adapter with B redrawn per candidate, so candidates answer differently), FOLDER/prompts.json; and
FOLDER/hf-throughput.json: tokens/s for 1 candidate (64 rows) and N candidates in one mixed-adapter batch
(`adapter_names`, N x 64 rows), end of sequence ignored, each the best of 2 timed runs after a warm-up; every row's
greedy token ids (fp16); and the GPU's float16 matmul rate (an 8192^3 product), for the FLOP fraction.
"""
import argparse
import json
import os
import shutil
import time

import torch
from peft import PeftModel
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoTokenizer


def make_candidates(folder, count):
    source = os.path.join(folder, "adapter")
    tensors = load_file(os.path.join(source, "adapter_model.safetensors"))
    paths = []
    for c in range(count):
        out = os.path.join(folder, "adapters", f"c{c}")
        os.makedirs(out, exist_ok=True)
        shutil.copy(os.path.join(source, "adapter_config.json"), out)
        g = torch.Generator().manual_seed(1500 + c)
        redrawn = {k: (torch.randn(v.shape, generator=g, dtype=torch.float32) * 0.02).to(v.dtype) if "lora_B" in k else v for k, v in tensors.items()}
        save_file(redrawn, os.path.join(out, "adapter_model.safetensors"))
        paths.append(out)
    return paths


DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # the CPU only to try the script on a tiny model


def sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def timed(fn, runs=2):
    fn()  # warm-up
    best = float("inf")
    for _ in range(runs):
        sync()
        started = time.perf_counter()
        out = fn()
        sync()
        best = min(best, time.perf_counter() - started)
    return best, out


def matmul_rate():
    n = 8192 if DEVICE == "cuda" else 512
    a = torch.randn(n, n, device=DEVICE, dtype=torch.float16)
    b = torch.randn(n, n, device=DEVICE, dtype=torch.float16)
    seconds, _ = timed(lambda: a @ b, runs=5)
    return 2 * n**3 / seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", required=True)
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--inputs-only", action="store_true", help="write the candidates and prompts, measure nothing")
    parser.add_argument("--runs", type=int, default=2, help="timed runs after the warm-up (the best is kept)")
    parser.add_argument("--dtype", choices=["float16", "float32"], default="float16", help="float32: greedy ids only, to FOLDER/hf-greedy-float32.json (the float16 figures' noise floor)")
    parser.add_argument("--keep-inputs", action="store_true", help="FOLDER/prompts.json and FOLDER/adapters/c* as they are (scripts/gpu/expand_zoo.py)")
    args = parser.parse_args()
    folder, n, new_tokens = args.folder, args.candidates, args.new_tokens
    if args.keep_inputs:
        with open(os.path.join(folder, "prompts.json")) as f:
            prompts = json.load(f)[: args.prompts]
        adapters = [os.path.join(folder, "adapters", f"c{c}") for c in range(n)]
    else:
        with open("data/eval/gsm8k.json") as f:
            prompts = [f"Q: {item['question']}\nA: " for item in json.load(f)["dev"][: args.prompts]]
        with open(os.path.join(folder, "prompts.json"), "w") as f:
            json.dump(prompts, f)
        adapters = make_candidates(folder, n)
    if args.inputs_only:
        return

    tokenizer = AutoTokenizer.from_pretrained(os.path.join(folder, "model"))
    tokenizer.padding_side = "left"
    base = AutoModelForCausalLM.from_pretrained(os.path.join(folder, "model"), dtype=getattr(torch, args.dtype)).to(DEVICE).eval()
    base.generation_config.eos_token_id = None
    model = PeftModel.from_pretrained(base, adapters[0], adapter_name="c0")
    for c in range(1, n):
        model.load_adapter(adapters[c], adapter_name=f"c{c}")
    model.eval()
    enc = tokenizer(prompts, return_tensors="pt", padding=True).to(DEVICE)
    options = dict(do_sample=False, max_new_tokens=new_tokens, pad_token_id=0, eos_token_id=None)

    def one():
        model.set_adapter("c0")
        with torch.no_grad():
            return model.generate(**enc, **options)

    rows = {k: v.repeat(n, 1) for k, v in enc.items()}
    names = [f"c{c}" for c in range(n) for _ in prompts]

    def many():
        with torch.no_grad():
            return model.generate(**rows, adapter_names=names, **options)

    if args.dtype == "float32":
        with torch.no_grad():
            out = many()
        with open(os.path.join(folder, "hf-greedy-float32.json"), "w") as f:
            json.dump(out[:, rows["input_ids"].shape[1]:].tolist(), f)
        return
    if DEVICE == "cuda":
        torch.cuda.reset_peak_memory_stats()
    one_seconds, _ = timed(one, args.runs)
    many_seconds, out = timed(many, args.runs)
    width = rows["input_ids"].shape[1]
    result = {
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu",
        "candidates": n,
        "prompts": len(prompts),
        "new_tokens": new_tokens,
        "mean_prompt_tokens": float(enc["attention_mask"].sum(1).float().mean()),
        "hf_one_tokens_per_s": len(prompts) * new_tokens / one_seconds,
        "hf_many_tokens_per_s": n * len(prompts) * new_tokens / many_seconds,
        "hf_peak_gib": torch.cuda.max_memory_allocated() / 2**30 if DEVICE == "cuda" else None,
        "fp16_matmul_flops": matmul_rate(),
        # Row c*P + p: candidate c, prompt p.
        "greedy": out[:, width:].tolist(),
    }
    with open(os.path.join(folder, "hf-throughput.json"), "w") as f:
        json.dump(result, f)
    print(json.dumps({k: v for k, v in result.items() if k != "greedy"}))


if __name__ == "__main__":
    main()
