"""Tiny random decoders of each family quirk the graph builder branches on, with Hugging Face's logits for them.

Development time only (CPU; transformers, torch, safetensors): writes tests/fixtures/graph-families/<variant>/
{config.json, model.safetensors, reference.json}, which src/engine/model/graph-families.test.ts reads. Every
parameter (norm weights too) is random, so a quirk the builder gets wrong moves the logits. The references are
HF's eager fp32 forward over a left-padded batch (the product's batching: position_ids = max(cumsum(mask) - 1, 0)).

    python3 scripts/make_graph_references.py
"""
import json
import os

import torch
import transformers
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "graph-families")
COMMON = dict(vocab_size=40, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
              max_position_embeddings=64, bos_token_id=1, eos_token_id=2, pad_token_id=0)
VARIANTS = {
    # q/k/v biases, GQA, tied embeddings, a large rope_theta
    "qwen2": (transformers.Qwen2Config, dict(num_key_value_heads=2, rope_theta=1e6, tie_word_embeddings=True,
                                             rms_norm_eps=1e-6), torch.float32),
    # (1 + w) norms, scaled embeddings, tanh GELU, one KV head, head_dim != hidden / heads, stored as bfloat16
    "gemma": (transformers.GemmaConfig, dict(num_key_value_heads=1, head_dim=16, hidden_act="gelu_pytorch_tanh",
                                             hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6), torch.bfloat16),
    # a sliding window shorter than the prompt, untied head, stored as float16
    "mistral": (transformers.MistralConfig, dict(num_key_value_heads=2, sliding_window=3, tie_word_embeddings=False,
                                                 rope_theta=10000.0), torch.float16),
    # Llama 3.x rope scaling, with wavelengths on both sides of the ramp and inside it
    "llama3": (transformers.LlamaConfig, dict(num_key_value_heads=2, rope_scaling=dict(
        rope_type="llama3", rope_theta=10000.0, factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
        original_max_position_embeddings=64), max_position_embeddings=256, tie_word_embeddings=False), torch.float32),
    "llama-linear": (transformers.LlamaConfig, dict(num_key_value_heads=4, rope_scaling=dict(
        rope_type="linear", rope_theta=10000.0, factor=4.0), tie_word_embeddings=True), torch.float32),
}
PROMPTS = [[1, 7, 12, 30, 5, 9, 22, 17, 3, 38], [1, 25, 4, 33, 8, 14]]


def main():
    for name, (config_class, extra, dtype) in VARIANTS.items():
        torch.manual_seed(20261201)
        config = config_class(**{**COMMON, **extra}, attn_implementation="eager")
        model = transformers.AutoModelForCausalLM.from_config(config).eval()
        with torch.no_grad():
            for param in model.parameters():
                param.copy_(torch.randn_like(param) * 0.3)
            # What is stored is what the decoder reads: round through the stored dtype.
            for param in model.parameters():
                param.copy_(param.to(dtype).float())
        folder = os.path.join(OUT, name)
        os.makedirs(folder, exist_ok=True)
        config.dtype = str(dtype).removeprefix("torch.")
        config.to_json_file(os.path.join(folder, "config.json"))
        tensors = {k: v.to(dtype).contiguous() for k, v in model.state_dict().items()
                   if not (config.tie_word_embeddings and k == "lm_head.weight")}
        save_file(tensors, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})

        width = max(len(p) for p in PROMPTS)
        ids = torch.tensor([[0] * (width - len(p)) + p for p in PROMPTS])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in PROMPTS])
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        reference = {
            "made_with": {"torch": torch.__version__, "transformers": transformers.__version__},
            "input_ids": ids.tolist(), "attention_mask": mask.tolist(), "position_ids": positions.tolist(),
            "logits": [[[round(float(x), 7) for x in logits[b, t]] if mask[b, t] else None for t in range(width)]
                       for b in range(len(PROMPTS))],
        }
        with open(os.path.join(folder, "reference.json"), "w") as f:
            json.dump(reference, f)
        print(name, sum(t.numel() for t in tensors.values()), "parameters")


if __name__ == "__main__":
    main()
