"""Tiny randomly initialised Hugging Face reward models (issue #18): a sequence-classification model per family
(decoder + `score` head, one label), with HF transformers' scores of a few (prompt, response) pairs, written to
tests/fixtures/reward/<family>/:

    model/           save_pretrained folder (config.json, safetensors, the zoo's tokenizer files)
    reference.json   the pairs, the token ids HF scored, the position it read the score at, and the score

A pair is scored as BWR_model scores it: the conversation [user: prompt, assistant: response] through the reward
model's chat template (apply_chat_template, no generation prompt) where its tokenizer has one, else the plain text
prompt + response (tokenizer(text), which adds <s>). The script checks that one padded batch of every pair gives the
same scores as each pair alone (transformers reads the score at the last token that is not config.json's pad id).

Run from the repository root, in a venv with torch and transformers (CPU is enough):

    python3 scripts/make_tiny_reward_models.py [--out tests/fixtures/reward]

The committed files were made with torch 2.13.0+cpu, transformers 5.18.0 (Python 3.11), computed in float32 on CPU.
"""
import argparse
import json
import os
import shutil
import sys

import torch
import transformers
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    LlamaConfig,
    LlamaForSequenceClassification,
    Qwen2Config,
    Qwen2ForSequenceClassification,
)

# The decoder fixtures' script: the same zoo tokenizer, vocabulary and special ids.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpu"))
from make_tiny_hf_models import BOS, EOS, PAD, VOCAB, copy_tokenizer  # noqa: E402

PAIRS = [
    ["Q: 12+34=\nA: ", "46"],
    ["Q: 太郎さんはりんごを３４５個持っています。\nA: ", "345個です。"],
    ["Write a short poem about the sea.", "The sea is wide and the sea is deep, and the waves sing the sailors to sleep."],
    ["Hello!", ""],
]

COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    pad_token_id=PAD,
    bos_token_id=BOS,
    eos_token_id=EOS,
    initializer_range=0.3,
    num_labels=1,
)

FAMILIES = {
    # No chat template: pairs are scored as plain text.
    "llama": dict(
        seed=1801,
        cls=LlamaForSequenceClassification,
        config=lambda: LlamaConfig(**COMMON, max_position_embeddings=2048, rms_norm_eps=1e-5, tie_word_embeddings=False),
        chat_template=None,
    ),
    # A chat template, and q/k/v biases.
    "qwen2": dict(
        seed=1802,
        cls=Qwen2ForSequenceClassification,
        config=lambda: Qwen2Config(
            **COMMON,
            max_position_embeddings=32768,
            rms_norm_eps=1e-6,
            tie_word_embeddings=False,
            rope_parameters=dict(rope_type="default", rope_theta=1000000.0),
            use_sliding_window=False,
        ),
        chat_template=(
            "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '\\n' }}{% endfor %}"
            "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}</s>"
        ),
    ),
}


def randomise(model, generator):
    """Norm weights, biases and the score head get random values too (HF initialises norms and biases to constants)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.2 * torch.randn(p.shape, generator=generator))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=generator))
            elif name == "score.weight":
                p.copy_(torch.randn(p.shape, generator=generator))


def pair_ids(tokenizer, prompt, response):
    if tokenizer.chat_template:
        conversation = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
        ids = tokenizer.apply_chat_template(conversation, tokenize=True, add_generation_prompt=False)
        return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)
    return tokenizer(prompt + response)["input_ids"]


@torch.no_grad()
def make_family(out_root, family, spec):
    torch.manual_seed(spec["seed"])
    generator = torch.Generator().manual_seed(spec["seed"])
    model = spec["cls"](spec["config"]()).eval()
    randomise(model, generator)
    out = os.path.join(out_root, family)
    model_dir = os.path.join(out, "model")
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(model_dir)
    # A reward model has no generation settings; save_pretrained may still write them.
    gen_file = os.path.join(model_dir, "generation_config.json")
    if os.path.exists(gen_file):
        os.remove(gen_file)
    copy_tokenizer(model_dir, spec["chat_template"])

    loaded = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa").eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    cases = []
    for prompt, response in PAIRS:
        ids = pair_ids(tokenizer, prompt, response)
        score = loaded(torch.tensor([ids])).logits[0, 0].item()
        cases.append(dict(prompt=prompt, response=response, input_ids=ids, score=score))

    # One right-padded batch must give every pair's own score (the score is read at the last non-pad token).
    width = max(len(case["input_ids"]) for case in cases)
    batch = torch.tensor([case["input_ids"] + [PAD] * (width - len(case["input_ids"])) for case in cases])
    mask = torch.tensor([[1] * len(case["input_ids"]) + [0] * (width - len(case["input_ids"])) for case in cases])
    batched = loaded(batch, attention_mask=mask).logits[:, 0]
    for case, score in zip(cases, batched.tolist()):
        assert abs(case["score"] - score) < 1e-5, (family, case["score"], score)
    scores = [case["score"] for case in cases]
    assert max(scores) - min(scores) > 0.1, f"{family}: the pairs' scores are too close to tell apart: {scores}"

    reference = dict(
        family=family,
        architecture=type(loaded).__name__,
        chat_template=bool(tokenizer.chat_template),
        torch=torch.__version__,
        transformers=transformers.__version__,
        pairs=cases,
    )
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(reference, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(family, [round(s, 4) for s in scores])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="tests/fixtures/reward")
    args = parser.parse_args()
    for family, spec in FAMILIES.items():
        make_family(args.out, family, spec)


if __name__ == "__main__":
    main()
