"""PEFT load check of an extracted LoRA (issue #14): loads the adapter that `npm run import -- <base> --experts <folder>
--extract-rank R` wrote with PEFT on the base model, and compares its greedy tokens and logits with the full fine-tune
it was extracted from (HF transformers, float32, CPU). Not part of `npm test` (Python is not part of the product).

    python3 scripts/check_extracted_lora.py --base tests/fixtures/hf/llama/model --finetune tests/fixtures/hf/llama/finetune \\
        --adapter /tmp/out/tuned [--tokens 8]

Prints one line per prompt of the fixture's reference.json and a verdict; exits 1 when a greedy token differs.
"""
import argparse
import json
import os
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM


@torch.no_grad()
def greedy(model, ids, count):
    seq, logits0 = list(ids), None
    for _ in range(count):
        logits = model(torch.tensor([seq])).logits[0, -1].float()
        logits0 = logits if logits0 is None else logits0
        seq.append(int(logits.argmax()))
    return seq[len(ids):], logits0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--finetune", required=True)
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--tokens", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(1)
    reference = os.path.join(os.path.dirname(os.path.abspath(args.base)), "reference.json")
    prompts = [p["ids"] for p in json.load(open(reference))["prompts"]]
    with open(os.path.join(args.adapter, "adapter_config.json")) as f:
        config = json.load(f)
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32), args.adapter).eval()
    finetune = AutoModelForCausalLM.from_pretrained(args.finetune, dtype=torch.float32).eval()
    same = True
    for i, ids in enumerate(prompts):
        ours, first = greedy(with_adapter, ids, args.tokens)
        theirs, their_first = greedy(finetune, ids, args.tokens)
        same &= ours == theirs
        print(f"prompt {i}: PEFT base+adapter {ours}, fine-tune {theirs}, {'equal' if ours == theirs else 'DIFFERENT'}; "
              f"max |logit difference| at the prompt's end {float((first - their_first).abs().max()):.2e}")
    print(f"{args.adapter}: r {config['r']}, rank_pattern {config.get('rank_pattern')}: "
          f"{'greedy tokens equal the full fine-tune' if same else 'greedy tokens DIFFER from the full fine-tune'} on {len(prompts)} prompts")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
