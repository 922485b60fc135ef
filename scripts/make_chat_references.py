"""HF transformers' own chat-template token ids for the tiny fixture models, written to
tests/fixtures/chat-templates/<case>.json, so the TypeScript rendering (@huggingface/jinja + @huggingface/tokenizers)
is checked against `tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)`.

Each case is a fixture model folder (tests/fixtures/hf/<family>/model) with a chat template put into a copy of its
tokenizer_config.json: the qwen2 fixture's own, a Llama-3-Instruct-style one (writes bos_token itself), a
Gemma-instruct-style one (bos_token, raise_exception on a system message, "model" as the assistant's role) and the
older list form of named templates (where "default" is the one apply_chat_template uses), and a chat_template.jinja
beside tokenizer_config.json's template (the file wins, in transformers 5). The tokenizer is loaded
from that copy by AutoTokenizer, as BWR_model loads its base model's tokenizer.

For each prompt it also records HF's greedy answer to it on the fixture model (8 argmax steps of full float32
forward passes on CPU, the smallest top-1/top-2 logit margin met, and the text up to the model's first EOS as
BWR_model decodes it), so a search's answers to chat prompts can be checked against HF's, not only its token ids.

Run from the repository root, in a venv with torch, transformers, tokenizers and jinja2:

    python3 scripts/make_chat_references.py [--out tests/fixtures/chat-templates]

The committed files were made with torch 2.13.0+cpu, transformers 5.18.0, tokenizers 0.23.2, jinja2 3.1.6
(Python 3.11).
"""
import argparse
import json
import os
import shutil
import tempfile

import jinja2
import tokenizers
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

GREEDY_TOKENS = 8

# Meta-Llama-3-8B-Instruct's template.
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

# google/gemma-7b-it's template.
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)

# A ChatML-style default beside a tool-use template, in the older list form of tokenizer_config.json.
NAMED_TEMPLATES = [
    {"name": "tool_use", "template": "{{ bos_token }}TOOLS{% for message in messages %}{{ message['content'] }}{% endfor %}"},
    {
        "name": "default",
        "template": (
            "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
            "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
        ),
    },
]

USER = [{"role": "user", "content": "What is 2 + 3?"}]
WITH_SYSTEM = [
    {"role": "system", "content": "You are a careful math tutor."},
    {"role": "user", "content": "Ken had 770 cookies and gave 605 of them to Sara. How many cookies does Ken have left?"},
]
UNICODE = [{"role": "user", "content": "  さくらさんは本を９３８冊持っています。 <s> is text here \n"}]

# transformers 4.43+ saves the template as chat_template.jinja; where a folder has both, the file is the one used.
JINJA_FILE_TEMPLATE = "{{ bos_token }}{% for message in messages %}[{{ message['role'] | upper }}] {{ message['content'] }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}[ASSISTANT] {% endif %}"

# name: (fixture family, chat_template for tokenizer_config.json or None for the fixture's own, chat_template.jinja or None, conversations)
CASES = {
    "qwen2-own": ("qwen2", None, None, [USER, WITH_SYSTEM, UNICODE]),
    "llama3-style": ("llama", LLAMA3_TEMPLATE, None, [USER, WITH_SYSTEM, UNICODE]),
    "gemma-style": ("gemma", GEMMA_TEMPLATE, None, [USER, WITH_SYSTEM, UNICODE]),
    "named-default": ("mistral", NAMED_TEMPLATES, None, [USER, WITH_SYSTEM]),
    "jinja-file": ("qwen2", None, JINJA_FILE_TEMPLATE, [USER, WITH_SYSTEM]),
}


def token_ids(tokenizer, messages):
    encoded = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    # transformers 5 returns a BatchEncoding here; 4.x a list of ids.
    return list(encoded["input_ids"]) if hasattr(encoded, "keys") else list(encoded)


@torch.no_grad()
def greedy(model, ids, eos_ids, tokenizer):
    seq = list(ids)
    tokens, margins = [], []
    for _ in range(GREEDY_TOKENS):
        logits = model(torch.tensor([seq])).logits[0, -1].float()
        top = torch.topk(logits, 2)
        margins.append(float(top.values[0] - top.values[1]))
        tokens.append(int(top.indices[0]))
        seq.append(tokens[-1])
    answer = tokens[: next((i for i, token in enumerate(tokens) if token in eos_ids), len(tokens))]
    return {"tokens": tokens, "min_margin": min(margins), "text": tokenizer.decode(answer, skip_special_tokens=True)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="tests/fixtures/chat-templates")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, (family, template, jinja_file, conversations) in CASES.items():
        model = f"tests/fixtures/hf/{family}/model"
        with tempfile.TemporaryDirectory() as folder:
            for file in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
                shutil.copy(os.path.join(model, file), folder)
            config_file = os.path.join(folder, "tokenizer_config.json")
            with open(config_file) as f:
                config = json.load(f)
            if template is not None:
                config["chat_template"] = template
            with open(config_file, "w") as f:
                json.dump(config, f)
            if jinja_file is not None:
                with open(os.path.join(folder, "chat_template.jinja"), "w") as f:
                    f.write(jinja_file)
            tokenizer = AutoTokenizer.from_pretrained(folder)
            model_weights = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32, attn_implementation="sdpa").eval()
            eos = model_weights.generation_config.eos_token_id
            eos_ids = set(eos if isinstance(eos, list) else [eos])
            cases = []
            for messages in conversations:
                case = {"messages": messages}
                try:
                    case["text"] = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
                    case["ids"] = token_ids(tokenizer, messages)
                    case["greedy"] = greedy(model_weights, case["ids"], eos_ids, tokenizer)
                    assert case["greedy"]["min_margin"] > 1e-3, f"{name}: a near tie ({case['greedy']['min_margin']}) would make the greedy answer fragile"
                except jinja2.exceptions.TemplateError as error:
                    case["error"] = str(error)
                cases.append(case)
        reference = {
            "model": model,
            "chat_template": template,
            "chat_template_jinja": jinja_file,
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__, "jinja2": jinja2.__version__},
            "cases": cases,
        }
        with open(os.path.join(args.out, f"{name}.json"), "w") as f:
            json.dump(reference, f, ensure_ascii=False, indent=1)
            f.write("\n")
        print(name, [(len(case["ids"]), round(case["greedy"]["min_margin"], 4)) if "ids" in case else case["error"] for case in cases])


if __name__ == "__main__":
    main()
