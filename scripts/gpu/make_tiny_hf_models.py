"""Tiny randomly initialised Hugging Face models, one per family the importer supports (issue #14), with a PEFT
LoRA adapter each and HF transformers' reference outputs, written to tests/fixtures/hf/<family>/:

    model/        save_pretrained folder (config.json, generation_config.json, safetensors, tokenizer files)
    adapter/      PEFT LoRA adapter (adapter_config.json, adapter_model.safetensors), random non-zero B
    reference.json             prompts, their token ids, greedy tokens of base and base+adapter, tokenizer cases
    reference_logits.safetensors   last-prompt-position logits (float32) of base and base+adapter per prompt
    adapter-b/    a second PEFT LoRA adapter of another rank and a subset of the target modules (mixed-rank recipes)
    adapter_b_reference.json   greedy tokens of base+adapter-b
    finetune/     a full fine-tune of model/ (same architecture and tokenizer): base + a low-rank-plus-noise change
                  of every LoRA target module, and for llama and gemma a small change of one norm
    finetune_reference.json    greedy tokens of the fine-tune, the exact singular values of each target module's
                  delta (torch.linalg.svdvals, float64), and the tensors outside the target modules that differ

Run from the repository root (CPU is enough; a GPU run must give the same files up to float rounding):

    python3 scripts/gpu/make_tiny_hf_models.py [--out tests/fixtures/hf]

The committed files were made on CPU with torch 2.13.0+cpu, transformers 5.18.0, peft 0.21.0, safetensors 0.8.0,
tokenizers 0.23.2 (Python 3.11). The lead may re-run it on the GPU machine as the issue asks; the outputs are
computed in float32 on CPU either way (the reference must not depend on TF32 or CUDA kernels).

Every family reuses the zoo's byte-level BPE tokenizer (initial_experts/base, vocab 1428; <pad>=0, <s>=1, </s>=2).
The weights are drawn with a wider spread than HF's default initializer so that the top logits are well separated
(greedy tokens then do not flip on 1e-5 differences), and norms and biases are random too, so that a builder that
ignores one (e.g. Gemma's (1 + w) RMSNorm, Qwen2's q/k/v biases) gets different logits.
"""
import argparse
import json
import os
import shutil

import peft
import safetensors
import tokenizers
import torch
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import save_file
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GemmaConfig,
    GemmaForCausalLM,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

ZOO_TOKENIZER = "initial_experts/base"
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
VOCAB = 1428
PAD, BOS, EOS = 0, 1, 2
GREEDY_TOKENS = 8

PROMPTS = [
    "Q: 12+34=\nA: ",
    "Q: 太郎さんはりんごを３４５個持っています。\nA: ",
    "The graph has 5 nodes and 7 edges. How many components?",
]
TOKENIZER_CASES = PROMPTS + ["", "  two  spaces\tand a tab", "６２９-２８５=344 ですか？", "</s> is a special token"]

COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    pad_token_id=PAD,
    bos_token_id=BOS,
    eos_token_id=EOS,
    initializer_range=0.3,
)

# One entry per family: the HF config, the dtype it is saved in, and its adapter. Between them they cover GQA,
# tied and untied embeddings, sharding, fp32/fp16/bf16, llama3 rope scaling, Mistral's sliding window, Qwen2's
# biases, Gemma's head_dim != hidden/heads, and adapters of different ranks and target modules.
FAMILIES = {
    "llama": dict(
        seed=1401,
        cls=LlamaForCausalLM,
        config=lambda: LlamaConfig(
            **COMMON,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=8192,
            rms_norm_eps=1e-5,
            tie_word_embeddings=True,
            # head_dim 16: wavelengths 2*pi*10000^(i/8) straddle 1024/4..1024, so all three llama3 bands are used.
            rope_parameters=dict(
                rope_type="llama3",
                rope_theta=10000.0,
                factor=8.0,
                low_freq_factor=1.0,
                high_freq_factor=4.0,
                original_max_position_embeddings=1024,
            ),
        ),
        dtype=torch.float32,
        max_shard_size=None,
        # Llama 3 lists several end tokens in generation_config.json.
        generation_eos=[EOS, 3],
        legacy_rope=False,
        lora=dict(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
        lora_b=dict(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj", "down_proj"]),
        finetune_norm="model.layers.1.input_layernorm.weight",
    ),
    "mistral": dict(
        seed=1402,
        cls=MistralForCausalLM,
        config=lambda: MistralConfig(
            **COMMON,
            num_attention_heads=4,
            num_key_value_heads=1,
            max_position_embeddings=4096,
            rms_norm_eps=1e-5,
            tie_word_embeddings=False,
            rope_parameters=dict(rope_type="default", rope_theta=10000.0),
            # Shorter than every prompt, so the window changes the reference logits.
            sliding_window=4,
        ),
        dtype=torch.float16,
        max_shard_size=None,
        generation_eos=EOS,
        legacy_rope=False,
        lora=dict(r=2, lora_alpha=16, target_modules=["q_proj", "v_proj"]),
        lora_b=dict(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "o_proj", "up_proj"]),
        finetune_norm=None,
    ),
    "qwen2": dict(
        seed=1403,
        cls=Qwen2ForCausalLM,
        config=lambda: Qwen2Config(
            **COMMON,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=32768,
            rms_norm_eps=1e-6,
            tie_word_embeddings=True,
            rope_parameters=dict(rope_type="default", rope_theta=1000000.0),
            use_sliding_window=False,
            sliding_window=4096,
            max_window_layers=2,
        ),
        dtype=torch.float32,
        # The embedding alone is 366 KB: two shards.
        max_shard_size="400KB",
        generation_eos=[EOS],
        # Qwen2.5's hub configs spell rope_theta at the top level (transformers 4.x); so does this one.
        legacy_rope=True,
        lora=dict(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]),
        lora_b=dict(r=3, lora_alpha=6, target_modules=["v_proj", "o_proj", "gate_proj"]),
        finetune_norm=None,
        chat_template=(
            "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '\\n' }}{% endfor %}"
            "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
        ),
    ),
    "gemma": dict(
        seed=1404,
        cls=GemmaForCausalLM,
        config=lambda: GemmaConfig(
            **COMMON,
            num_attention_heads=4,
            num_key_value_heads=1,
            # Not hidden_size / num_attention_heads (16), as Gemma-7B's 256 is not 3072 / 16.
            head_dim=24,
            hidden_act="gelu_pytorch_tanh",
            max_position_embeddings=8192,
            rms_norm_eps=1e-6,
            tie_word_embeddings=True,
            rope_parameters=dict(rope_type="default", rope_theta=10000.0),
        ),
        dtype=torch.bfloat16,
        max_shard_size=None,
        generation_eos=EOS,
        legacy_rope=True,
        lora=dict(r=4, lora_alpha=4, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
        lora_b=dict(r=6, lora_alpha=12, target_modules=["q_proj", "up_proj", "down_proj"]),
        finetune_norm="model.norm.weight",
    ),
}

# Every LoRA target module the importer supports: a full fine-tune changes all of them.
TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# The fine-tune's change of each target module: a rank-4 part with these singular values plus Gaussian noise, so
# its spectrum has a clear head and a full-rank tail (an extraction at rank R < min(m, n) loses a known amount).
FINETUNE_SINGULAR_VALUES = [3.0, 2.0, 1.2, 0.6]
FINETUNE_NOISE = 0.01
# The norm a fine-tune changes (llama, gemma) moves by this much relative to its size: LoRA cannot carry it, and it
# is small enough that the fine-tune's greedy tokens stay those of its target modules alone (checked below).
FINETUNE_NORM_CHANGE = 0.01


def randomise(model, generator):
    """Norm weights and biases get random values as well (HF initialises them to constants)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                # Gemma's norm weight w is used as (1 + w), initialised 0; others as w, initialised 1.
                p.add_(0.2 * torch.randn(p.shape, generator=generator))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=generator))


def write_legacy_rope(config_file):
    """Rewrites transformers 5's rope_parameters as the top-level rope_theta most hub configs still carry."""
    with open(config_file) as f:
        cfg = json.load(f)
    rope = cfg.pop("rope_parameters")
    assert rope["rope_type"] == "default", rope
    cfg["rope_theta"] = rope["rope_theta"]
    with open(config_file, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def set_generation_eos(model_dir, eos):
    gen_file = os.path.join(model_dir, "generation_config.json")
    with open(gen_file) as f:
        gen = json.load(f)
    gen["eos_token_id"] = eos
    with open(gen_file, "w") as f:
        json.dump(gen, f, indent=2, sort_keys=True)
        f.write("\n")


def copy_tokenizer(model_dir, chat_template):
    for name in TOKENIZER_FILES:
        shutil.copy(os.path.join(ZOO_TOKENIZER, name), os.path.join(model_dir, name))
    if chat_template:
        cfg_file = os.path.join(model_dir, "tokenizer_config.json")
        with open(cfg_file) as f:
            cfg = json.load(f)
        cfg["chat_template"] = chat_template
        with open(cfg_file, "w") as f:
            json.dump(cfg, f, indent=2, ensure_ascii=False)
            f.write("\n")


@torch.no_grad()
def greedy(model, ids):
    """GREEDY_TOKENS argmax steps by full forward passes (no cache, EOS not special), checked against generate().

    Returns the tokens, the logits at the prompt's last position and the smallest top-1/top-2 margin seen."""
    seq = list(ids)
    tokens, margins, first_logits = [], [], None
    for _ in range(GREEDY_TOKENS):
        logits = model(torch.tensor([seq])).logits[0, -1].float()
        if first_logits is None:
            first_logits = logits.clone()
        top = torch.topk(logits, 2)
        margins.append(float(top.values[0] - top.values[1]))
        tokens.append(int(top.indices[0]))
        seq.append(tokens[-1])
    generated = model.generate(
        torch.tensor([ids]),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        max_new_tokens=GREEDY_TOKENS,
        do_sample=False,
        eos_token_id=None,
        pad_token_id=PAD,
    )[0, len(ids):].tolist()
    assert generated == tokens, f"generate() with its KV cache gave {generated}, full forward passes {tokens}"
    return tokens, first_logits, min(margins)


def peft_adapter(model_dir, adapter_dir, lora, generator):
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(lora_dropout=0.0, bias="none", task_type="CAUSAL_LM", **lora))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=generator))
    model.save_pretrained(adapter_dir)
    os.remove(os.path.join(adapter_dir, "README.md"))  # PEFT's empty model card
    cfg_file = os.path.join(adapter_dir, "adapter_config.json")
    with open(cfg_file) as f:
        cfg = json.load(f)
    # The folder is moved around with the repository: name the base relative to the adapter.
    cfg["base_model_name_or_path"] = "../model"
    # PEFT keeps target_modules as a set: its order would change from run to run.
    cfg["target_modules"] = sorted(cfg["target_modules"])
    with open(cfg_file, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def make_family(out_root, family, spec):
    torch.manual_seed(spec["seed"])
    generator = torch.Generator().manual_seed(spec["seed"])
    out = os.path.join(out_root, family)
    shutil.rmtree(out, ignore_errors=True)
    model_dir, adapter_dir = os.path.join(out, "model"), os.path.join(out, "adapter")

    config = spec["config"]()
    model = spec["cls"](config)
    randomise(model, generator)
    model.generation_config = GenerationConfig(bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD)
    model.to(spec["dtype"])
    kwargs = {"max_shard_size": spec["max_shard_size"]} if spec["max_shard_size"] else {}
    model.save_pretrained(model_dir, **kwargs)
    if spec["legacy_rope"]:
        write_legacy_rope(os.path.join(model_dir, "config.json"))
    set_generation_eos(model_dir, spec["generation_eos"])
    copy_tokenizer(model_dir, spec.get("chat_template"))

    peft_adapter(model_dir, adapter_dir, spec["lora"], generator)

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # The reference is the saved model read back in float32 (16-bit weights widen exactly), as the decoder does.
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32), adapter_dir).eval()

    logits, prompts = {}, []
    for i, text in enumerate(PROMPTS):
        ids = tokenizer(text)["input_ids"]
        entry = {"text": text, "ids": ids}
        for variant, model_ in (("base", base), ("adapter", with_adapter)):
            tokens, first, margin = greedy(model_, ids)
            logits[f"{variant}.{i}"] = first.contiguous()
            entry[variant] = {"greedy": tokens, "min_top2_margin": round(margin, 6)}
        assert entry["base"]["greedy"] != entry["adapter"]["greedy"] or float((logits[f"base.{i}"] - logits[f"adapter.{i}"]).abs().max()) > 1e-2, (
            f"{family}: the adapter does not change prompt {i}"
        )
        prompts.append(entry)

    save_file(logits, os.path.join(out, "reference_logits.safetensors"))
    reference = {
        "family": family,
        "made_with": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "safetensors": safetensors.__version__,
            "tokenizers": tokenizers.__version__,
        },
        "dtype": str(spec["dtype"]).removeprefix("torch."),
        "greedy_tokens": GREEDY_TOKENS,
        "logits": "reference_logits.safetensors: '<base|adapter>.<prompt index>', float32 [vocab], at the prompt's last position",
        "prompts": prompts,
        "tokenizer_cases": [{"text": t, "ids": tokenizer(t)["input_ids"]} for t in TOKENIZER_CASES],
    }
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1, ensure_ascii=False)
        f.write("\n")
    margins = [p[v]["min_top2_margin"] for p in prompts for v in ("base", "adapter")]
    print(f"{family}: {spec['dtype']}, smallest top-2 margin {min(margins):.4f}, files:", sorted(os.listdir(model_dir)))
    make_adapter_b(out, family, spec, prompts)
    make_finetune(out, family, spec, prompts)


def write_json(file, value):
    with open(file, "w") as f:
        json.dump(value, f, indent=1, ensure_ascii=False)
        f.write("\n")


def make_adapter_b(out, family, spec, prompts):
    """A second adapter of another rank and fewer target modules, from its own seed (the first one's draws stay)."""
    generator = torch.Generator().manual_seed(spec["seed"] + 1000)
    model_dir, adapter_dir = os.path.join(out, "model"), os.path.join(out, "adapter-b")
    peft_adapter(model_dir, adapter_dir, spec["lora_b"], generator)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32), adapter_dir).eval()
    greedy_b = []
    for p in prompts:
        tokens, _, margin = greedy(model, p["ids"])
        greedy_b.append({"ids": p["ids"], "greedy": tokens, "min_top2_margin": round(margin, 6)})
    assert any(g["greedy"] != p["base"]["greedy"] for g, p in zip(greedy_b, prompts)), f"{family}: adapter-b does not change the greedy tokens"
    write_json(os.path.join(out, "adapter_b_reference.json"), {"family": family, "lora": spec["lora_b"], "prompts": greedy_b})


def module_weight_names(config):
    names = []
    for layer in range(config.num_hidden_layers):
        for module in TARGET_MODULES:
            part = "mlp" if module in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            names.append(f"model.layers.{layer}.{part}.{module}.weight")
    return names


@torch.no_grad()
def make_finetune(out, family, spec, prompts):
    """A full fine-tune of the base: every target module gets U diag(s) V^T + noise, and one norm (llama, gemma) a
    small change. Its references: HF's greedy tokens of the fine-tune, of the fine-tune with everything outside the
    target modules reset to the base (what a LoRA extraction can carry: the two must agree, or the fixture is
    useless for the full-rank test), and the exact singular values of each delta, from the weights as saved."""
    generator = torch.Generator().manual_seed(spec["seed"] + 2000)
    model_dir, ft_dir = os.path.join(out, "model"), os.path.join(out, "finetune")
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    tuned = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    params = dict(tuned.named_parameters())
    for name in module_weight_names(tuned.config):
        w = params[name]
        m, n = w.shape
        u = torch.linalg.qr(torch.randn(m, 4, generator=generator, dtype=torch.float64))[0]
        v = torch.linalg.qr(torch.randn(n, 4, generator=generator, dtype=torch.float64))[0]
        delta = u @ torch.diag(torch.tensor(FINETUNE_SINGULAR_VALUES, dtype=torch.float64)) @ v.T
        delta += FINETUNE_NOISE * torch.randn(m, n, generator=generator, dtype=torch.float64)
        w.add_(delta.to(torch.float32))
    if spec["finetune_norm"]:
        w = params[spec["finetune_norm"]]
        w.add_(FINETUNE_NORM_CHANGE * w.norm() / w.numel() ** 0.5 * torch.randn(w.shape, generator=generator))
    tuned.to(spec["dtype"])
    shutil.rmtree(ft_dir, ignore_errors=True)
    kwargs = {"max_shard_size": spec["max_shard_size"]} if spec["max_shard_size"] else {}
    tuned.save_pretrained(ft_dir, **kwargs)
    for name in ["config.json", "generation_config.json", *TOKENIZER_FILES]:
        shutil.copy(os.path.join(model_dir, name), os.path.join(ft_dir, name))

    # Everything below is computed from the files as saved (16-bit weights widen exactly to float32).
    tuned = AutoModelForCausalLM.from_pretrained(ft_dir, dtype=torch.float32).eval()
    base_sd, tuned_sd = base.state_dict(), tuned.state_dict()
    targets = set(module_weight_names(tuned.config))
    modules, others = {}, {}
    for name, w in tuned_sd.items():
        delta = w.double() - base_sd[name].double()
        if name in targets:
            modules[name] = {
                "shape": list(delta.shape),
                "delta_norm": float(delta.norm()),
                "singular_values": [float(x) for x in torch.linalg.svdvals(delta)],
            }
        elif float(delta.abs().max()) > 0:
            others[name] = {"relative_norm": float(delta.norm() / base_sd[name].double().norm())}
    carried = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    carried.load_state_dict({**base_sd, **{name: tuned_sd[name] for name in targets}})

    entries = []
    for p in prompts:
        tokens, _, margin = greedy(tuned, p["ids"])
        carried_tokens, _, carried_margin = greedy(carried, p["ids"])
        assert carried_tokens == tokens, f"{family}: the fine-tune's norm change alters its greedy tokens; LoRA cannot carry it"
        entries.append({"ids": p["ids"], "greedy": tokens, "min_top2_margin": round(min(margin, carried_margin), 6)})
    assert any(e["greedy"] != p["base"]["greedy"] for e, p in zip(entries, prompts)), f"{family}: the fine-tune does not change the greedy tokens"
    write_json(
        os.path.join(out, "finetune_reference.json"),
        {
            "family": family,
            "delta": {"singular_values": FINETUNE_SINGULAR_VALUES, "noise": FINETUNE_NOISE, "norm": spec["finetune_norm"], "norm_change": FINETUNE_NORM_CHANGE},
            "prompts": entries,
            "modules": modules,
            "other_differences": others,
        },
    )
    print(f"{family}: fine-tune with {len(modules)} changed modules, other differences: {sorted(others)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/hf")
    ap.add_argument("--families", default=",".join(FAMILIES))
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    for family in args.families.split(","):
        make_family(args.out, family, FAMILIES[family])


if __name__ == "__main__":
    main()
