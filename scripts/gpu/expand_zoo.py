"""The bundled zoo grown to TinyLlama-1.1B's shape without changing what it computes (issue #15's correctness check at
scale): a randomly initialised 1.1B model has near-uniform next-token distributions, so two correct implementations
disagree on most greedy sequences, while the zoo's trained base and experts answer decisively.

    python3 scripts/gpu/expand_zoo.py --out /tmp/scale/zoo-1.1b [--check]

writes OUT/model (float16, as the zoo is stored; TinyLlama-1.1B's hidden size 2048, 32 query heads of 64 over 4 KV
heads, intermediate size 5632 and 22 layers; the zoo's vocabulary of 1,428 tokens and its 256 positions), OUT/adapters/c0..c7
(the zoo's 8 experts, grown the same way) and OUT/prompts.json (the first 64 gsm8k dev questions in the zoo's prompt
format), the inputs of scripts/gpu/eval_throughput_hf.py --keep-inputs and bench/eval-throughput.ts.

How the function is kept: the hidden state is the zoo's repeated 8 times, so RMSNorm sees the same mean square and
every projection reading it takes its weights / 8 in each block; query head j is a copy of the zoo's head j // 8, so
the 8 query heads of KV head k (transformers' repeat_kv pairs j with j // 8) are the zoo's head k; o_proj and down_proj
write their output into every block; the MLP's extra neurons are zero; layers 4..21 have random attention and MLP
inputs but zero o_proj and down_proj, so they add nothing to the residual stream (and still cost their FLOPs). Every
factor is a power of two, so float16 stores the grown weights exactly. --check compares the grown model's float32
logits with the zoo's on the CPU, for the base and one expert.
"""
import argparse
import json
import os
import shutil

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, LlamaConfig

ZOO = "initial_experts"
EXPERTS = ["compare", "graph_comp", "graph_path", "ja_reader", "ja_vocab", "knowledge", "math", "sequence"]
COPIES = 8  # 2048 / 256
LAYERS = 22
INTERMEDIATE = 5632
HEAD_DIM = 64


def tile_in(weight):
    """A projection reading the repeated hidden state: the same output from weight / COPIES in every input block."""
    return torch.cat([weight / COPIES] * COPIES, dim=1)


def tile_out(weight):
    """A projection writing into the residual stream: its output in every block."""
    return torch.cat([weight] * COPIES, dim=0)


def heads_out(weight, heads):
    """Rows of `heads` heads → rows of heads × COPIES heads, head j a copy of head j // COPIES."""
    return weight.reshape(heads, HEAD_DIM, -1).repeat_interleave(COPIES, dim=0).reshape(heads * COPIES * HEAD_DIM, -1)


def heads_in(weight, heads):
    """Columns reading `heads` heads → columns reading their COPIES copies each, weight / COPIES per copy."""
    rows = weight.shape[0]
    return (weight.reshape(rows, heads, HEAD_DIM).repeat_interleave(COPIES, dim=1) / COPIES).reshape(rows, heads * COPIES * HEAD_DIM)


def pad_rows(weight, rows):
    return torch.cat([weight, torch.zeros(rows - weight.shape[0], weight.shape[1], dtype=weight.dtype)], dim=0)


def pad_cols(weight, cols):
    return torch.cat([weight, torch.zeros(weight.shape[0], cols - weight.shape[1], dtype=weight.dtype)], dim=1)


def grow_base(zoo, config, seed):
    heads = config["num_attention_heads"]
    grown = {
        "model.embed_tokens.weight": zoo["model.embed_tokens.weight"].repeat(1, COPIES),
        "lm_head.weight": tile_in(zoo["model.embed_tokens.weight"]),  # the zoo ties its head to the embeddings
        "model.norm.weight": zoo["model.norm.weight"].repeat(COPIES),
    }
    hidden = config["hidden_size"] * COPIES
    g = torch.Generator().manual_seed(seed)
    for layer in range(LAYERS):
        p = f"model.layers.{layer}"
        if layer < config["num_hidden_layers"]:
            w = lambda name: zoo[f"{p}.{name}.weight"]
            grown |= {
                f"{p}.self_attn.q_proj.weight": tile_in(heads_out(w("self_attn.q_proj"), heads)),
                f"{p}.self_attn.k_proj.weight": tile_in(w("self_attn.k_proj")),
                f"{p}.self_attn.v_proj.weight": tile_in(w("self_attn.v_proj")),
                f"{p}.self_attn.o_proj.weight": tile_out(heads_in(w("self_attn.o_proj"), heads)),
                f"{p}.mlp.gate_proj.weight": pad_rows(tile_in(w("mlp.gate_proj")), INTERMEDIATE),
                f"{p}.mlp.up_proj.weight": pad_rows(tile_in(w("mlp.up_proj")), INTERMEDIATE),
                f"{p}.mlp.down_proj.weight": tile_out(pad_cols(w("mlp.down_proj"), INTERMEDIATE)),
                f"{p}.input_layernorm.weight": w("input_layernorm").repeat(COPIES),
                f"{p}.post_attention_layernorm.weight": w("post_attention_layernorm").repeat(COPIES),
            }
        else:
            rand = lambda rows, cols: torch.randn(rows, cols, generator=g) * 0.02
            grown |= {
                f"{p}.self_attn.q_proj.weight": rand(heads * COPIES * HEAD_DIM, hidden),
                f"{p}.self_attn.k_proj.weight": rand(config["num_key_value_heads"] * HEAD_DIM, hidden),
                f"{p}.self_attn.v_proj.weight": rand(config["num_key_value_heads"] * HEAD_DIM, hidden),
                f"{p}.self_attn.o_proj.weight": torch.zeros(hidden, heads * COPIES * HEAD_DIM),
                f"{p}.mlp.gate_proj.weight": rand(INTERMEDIATE, hidden),
                f"{p}.mlp.up_proj.weight": rand(INTERMEDIATE, hidden),
                f"{p}.mlp.down_proj.weight": torch.zeros(hidden, INTERMEDIATE),
                f"{p}.input_layernorm.weight": torch.ones(hidden),
                f"{p}.post_attention_layernorm.weight": torch.ones(hidden),
            }
    return grown


def grow_adapter(tensors, heads):
    """PEFT LoRA A [r, in] and B [out, r] of every module, grown as the module's base weight is."""
    grown = {}
    for key, value in tensors.items():
        module = key.split(".")[-3]
        a = ".lora_A." in key
        if module == "q_proj":
            grown[key] = tile_in(value) if a else heads_out(value, heads)
        elif module in ("k_proj", "v_proj"):
            grown[key] = tile_in(value) if a else value
        elif module == "o_proj":
            grown[key] = heads_in(value, heads) if a else tile_out(value)
        elif module in ("gate_proj", "up_proj"):
            grown[key] = tile_in(value) if a else pad_rows(value, INTERMEDIATE)
        elif module == "down_proj":
            grown[key] = pad_cols(value, INTERMEDIATE) if a else tile_out(value)
        else:
            raise SystemExit(f"{key}: no rule to grow LoRA module {module}")
    return grown


def check(out):
    from peft import PeftModel
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(os.path.join(ZOO, "base"))
    prompts = json.load(open(os.path.join(out, "prompts.json")))[:4]
    enc = tokenizer(prompts, return_tensors="pt", padding=True)
    for expert in [None, "math"]:
        logits = []
        for base, adapter in [(os.path.join(ZOO, "base"), expert and os.path.join(ZOO, expert)), (os.path.join(out, "model"), expert and os.path.join(out, "adapters", f"c{EXPERTS.index(expert)}"))]:
            model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
            if adapter:
                model = PeftModel.from_pretrained(model, adapter).eval()
            with torch.no_grad():
                logits.append(model(**enc).logits)
        diff = (logits[0] - logits[1]).abs().max().item()
        same = (logits[0].argmax(-1) == logits[1].argmax(-1)).float().mean().item()
        print(f"{expert or 'base'}: max |zoo - grown| logit {diff:.2e}, same argmax at {same:.1%} of positions")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1100)
    parser.add_argument("--check", action="store_true", help="compare the grown model's logits with the zoo's (CPU, float32)")
    args = parser.parse_args()
    config = json.load(open(os.path.join(ZOO, "base", "config.json")))
    if (config["hidden_size"] * COPIES, config["head_dim"], config["num_attention_heads"] * COPIES, config["num_key_value_heads"]) != (2048, HEAD_DIM, 32, 4):
        raise SystemExit("the zoo's shape changed: this script grows a 256-wide, 4-head, 4-KV-head, head size 64 Llama")
    zoo = {k: v.float() for k, v in load_file(os.path.join(ZOO, "base", "model.safetensors")).items()}
    grown = {k: v.to(torch.float16).contiguous() for k, v in grow_base(zoo, config, args.seed).items()}

    model_dir = os.path.join(args.out, "model")
    os.makedirs(model_dir, exist_ok=True)
    grown_config = LlamaConfig(
        vocab_size=config["vocab_size"], hidden_size=2048, intermediate_size=INTERMEDIATE, num_hidden_layers=LAYERS,
        num_attention_heads=32, num_key_value_heads=4, head_dim=HEAD_DIM, max_position_embeddings=config["max_position_embeddings"],
        rms_norm_eps=config["rms_norm_eps"], tie_word_embeddings=False, rope_parameters=config["rope_parameters"],
        pad_token_id=config["pad_token_id"], bos_token_id=config["bos_token_id"], eos_token_id=config["eos_token_id"], dtype="float16",
    )
    grown_config.save_pretrained(model_dir)
    save_file(grown, os.path.join(model_dir, "model.safetensors"), metadata={"format": "pt"})
    for name in os.listdir(os.path.join(ZOO, "base")):
        if name.startswith(("tokenizer", "special_tokens", "generation_config")):
            shutil.copy(os.path.join(ZOO, "base", name), model_dir)

    for index, expert in enumerate(EXPERTS):
        target = os.path.join(args.out, "adapters", f"c{index}")
        os.makedirs(target, exist_ok=True)
        adapter_config = json.load(open(os.path.join(ZOO, expert, "adapter_config.json")))
        adapter_config["base_model_name_or_path"] = model_dir
        json.dump(adapter_config, open(os.path.join(target, "adapter_config.json"), "w"), indent=2)
        tensors = load_file(os.path.join(ZOO, expert, "adapter_model.safetensors"))
        save_file({k: v.contiguous() for k, v in grow_adapter(tensors, config["num_attention_heads"]).items()}, os.path.join(target, "adapter_model.safetensors"))

    with open("data/eval/gsm8k.json") as f:
        prompts = [f"Q: {item['question']}\nA: " for item in json.load(f)["dev"][: args.prompts]]
    json.dump(prompts, open(os.path.join(args.out, "prompts.json"), "w"))
    print(f"wrote {args.out}: {sum(v.numel() for v in grown.values()) / 1e9:.2f} B parameters, {len(EXPERTS)} adapters, {len(prompts)} prompts")
    if args.check:
        check(args.out)


if __name__ == "__main__":
    main()
