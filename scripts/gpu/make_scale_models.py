"""Randomly initialised Hugging Face models of real sizes (issue #14's scale check), each with a PEFT LoRA adapter and
HF transformers' greedy answers in float32, for `bench/import-scale.ts` to import and evaluate through the product:

    python3 scripts/gpu/make_scale_models.py --shape llama-1.1b --out /tmp/scale/llama-1.1b

writes OUT/model (save_pretrained: bf16 weights in 2 GB shards with their index, tokenizer files), OUT/adapter (PEFT,
r 16 on every target module, B non-zero) and OUT/reference.json (prompts, and per prompt HF's greedy token ids and
text for the base and for base + adapter, and the smallest top-1/top-2 logit margin along each answer, so a
disagreement can be told from a near tie).

Run on the GPU machine (a 7B model is 14.5 GB in bf16 and 29 GB in float32). The tokenizer is the zoo's byte-level
BPE (vocab 1428) grown to the model's vocabulary with ordinary added tokens "<extra_N>", so every id the model can
generate decodes to text on both sides. The reference runs in float32 with TF32 off: the decoder computes in float32.
"""
import argparse
import json
import os
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM

ZOO_TOKENIZER = "initial_experts/base"
PAD, BOS, EOS = 0, 1, 2
NEW_TOKENS = 16
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# Wider than HF's 0.02, so that the top logits of a random model are further apart than float32 rounding.
INIT = 0.1
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# TinyLlama-1.1B's, Mistral-7B-v0.1's, Qwen2.5-1.5B's and Qwen2-7B's shapes, as their hub config.json files give them.
SHAPES = {
    "llama-1.1b": (
        LlamaForCausalLM,
        lambda: LlamaConfig(
            vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
            num_key_value_heads=4, max_position_embeddings=2048, rms_norm_eps=1e-5, tie_word_embeddings=False,
            rope_parameters=dict(rope_type="default", rope_theta=10000.0),
            pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS, initializer_range=INIT,
        ),
    ),
    "mistral-7b": (
        MistralForCausalLM,
        lambda: MistralConfig(
            vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
            num_key_value_heads=8, max_position_embeddings=32768, rms_norm_eps=1e-5, tie_word_embeddings=False,
            rope_parameters=dict(rope_type="default", rope_theta=10000.0), sliding_window=4096,
            pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS, initializer_range=INIT,
        ),
    ),
    "qwen2-1.5b": (
        Qwen2ForCausalLM,
        lambda: Qwen2Config(
            vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
            num_key_value_heads=2, max_position_embeddings=32768, rms_norm_eps=1e-6, tie_word_embeddings=True,
            rope_parameters=dict(rope_type="default", rope_theta=1000000.0), use_sliding_window=False,
            pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS, initializer_range=INIT,
        ),
    ),
    "qwen2-7b": (
        Qwen2ForCausalLM,
        lambda: Qwen2Config(
            vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
            num_key_value_heads=4, max_position_embeddings=32768, rms_norm_eps=1e-6, tie_word_embeddings=False,
            rope_parameters=dict(rope_type="default", rope_theta=1000000.0), use_sliding_window=False,
            pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS, initializer_range=INIT,
        ),
    ),
}


def prompts():
    with open("data/eval/gsm8k.json") as f:
        return [f"Q: {item['question']}\nA: " for item in json.load(f)["dev"][:8]]


def greedy(model, tokenizer, texts):
    answers = []
    for text in texts:
        enc = tokenizer(text, return_tensors="pt").to(DEVICE)
        out = model.generate(**enc, do_sample=False, max_new_tokens=NEW_TOKENS, pad_token_id=PAD, eos_token_id=EOS,
                             output_scores=True, return_dict_in_generate=True)
        ids = out.sequences[0, enc["input_ids"].shape[1]:].tolist()
        margins = [float(s[0].topk(2).values[0] - s[0].topk(2).values[1]) for s in out.scores]
        answers.append({"ids": ids, "text": tokenizer.decode(ids, skip_special_tokens=True), "min_margin": min(margins)})
    return answers


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", choices=sorted(SHAPES), required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--no-reference", action="store_true", help="write the model and adapter only (no float32 greedy answers)")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(1414)
    cls, config = SHAPES[args.shape]
    model_dir, adapter_dir = os.path.join(args.out, "model"), os.path.join(args.out, "adapter")

    started = time.time()
    tokenizer = AutoTokenizer.from_pretrained(ZOO_TOKENIZER)
    cfg = config()
    tokenizer.add_tokens([f"<extra_{i}>" for i in range(cfg.vocab_size - len(tokenizer))])
    assert len(tokenizer) == cfg.vocab_size, (len(tokenizer), cfg.vocab_size)
    with torch.device(DEVICE):
        model = cls(cfg)
    with torch.no_grad():
        # HF initialises biases (Qwen2's q/k/v) to zero, which a decoder that dropped them would not notice.
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.normal_(0.0, INIT)
    model.to(torch.bfloat16).save_pretrained(model_dir, max_shard_size="2GB")
    tokenizer.save_pretrained(model_dir)
    lora = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=TARGETS, lora_dropout=0.0))
    with torch.no_grad():
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.02)
    lora.save_pretrained(adapter_dir)
    del lora, model
    torch.cuda.empty_cache()
    made = time.time() - started
    if args.no_reference:
        print(json.dumps({"shape": args.shape, "seconds_to_make": round(made, 1)}))
        return

    from peft import PeftModel

    texts = prompts()
    reference = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).to(DEVICE).eval()
    base = greedy(reference, tokenizer, texts)
    with_adapter = greedy(PeftModel.from_pretrained(reference, adapter_dir).eval(), tokenizer, texts)
    result = {
        "shape": args.shape,
        "parameters": sum(p.numel() for p in reference.parameters()),
        "torch": torch.__version__,
        "seconds_to_make": round(made, 1),
        "prompts": [{"text": t, "base": b, "adapter": a} for t, b, a in zip(texts, base, with_adapter)],
    }
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "prompts"}), "min margins:",
          min(p["base"]["min_margin"] for p in result["prompts"]), min(p["adapter"]["min_margin"] for p in result["prompts"]))


if __name__ == "__main__":
    main()
