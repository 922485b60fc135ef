#!/usr/bin/env python3
"""Build the bundled demo model zoo: eval data, tokenizer, a tiny Llama base, PEFT LoRA experts,
an ONNX decoder with per-row LoRA inputs, the measured tables and initial_experts/README.md.

Deterministic (fixed seeds). Needs: torch, transformers, peft, tokenizers, safetensors, onnx, onnxruntime, numpy.
Run from the repository root on a CUDA machine:

    PYTHONUNBUFFERED=1 python3 initial_experts/build_zoo.py --stages all

Stages (comma separated, or "all"): data,tokenizer,base,experts,eval,onnx,readme.
Finished artifacts are reused (a stage whose output exists is skipped unless --force).
"""
import argparse
import hashlib
import json
import math
import os
import random
import re
import struct
import sys
import time

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

SEED = 20261122
TASKS = ["gsm8k", "mgsm_ja", "knowledge_mc", "nlgraph", "ja_vocab"]
TASK_KIND = {"gsm8k": "numeric", "mgsm_ja": "numeric", "knowledge_mc": "mc", "nlgraph": "numeric",
             "ja_vocab": "mc"}
MAX_NEW = {"numeric": 16, "mc": 3}
MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
N_DEV, N_TEST = 200, 500
LORA_R, LORA_ALPHA = 8, 16
MODEL_CFG = dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=4,
                 num_key_value_heads=4, max_position_embeddings=256, rms_norm_eps=1e-5)
VOCAB_SIZE = 2048
T0 = time.time()


def log(*a):
    print(f"[{time.time() - T0:7.1f}s]", *a, flush=True)


# ----------------------------------------------------------------------------------------------
# Data generators (pure Python)
# ----------------------------------------------------------------------------------------------
FW = str.maketrans("0123456789", "０１２３４５６７８９")
FW_BACK = str.maketrans("０１２３４５６７８９", "0123456789")

EN_NAMES = ["Tom", "Anna", "Ken", "Mia", "Ben", "Lucy", "Sam", "Emma", "Leo", "Nina", "Max", "Sara"]
EN_OBJS = ["apples", "pens", "books", "cards", "coins", "eggs", "stamps", "marbles", "cookies", "stickers",
           "shells", "balls"]
JA_NAMES = ["太郎", "花子", "健太", "由美", "翔", "さくら", "大輔", "美咲", "直樹", "陽菜", "健", "愛"]
JA_OBJS = [("りんご", "個"), ("えんぴつ", "本"), ("本", "冊"), ("カード", "枚"), ("コイン", "枚"), ("卵", "個"),
           ("切手", "枚"), ("ビー玉", "個"), ("クッキー", "枚"), ("シール", "枚"), ("貝がら", "個"), ("ボール", "個")]

EN_ADD = [
    "{n} has {a} {o}. {m} gives {n} {b} more {o}. How many {o} does {n} have now?",
    "{n} had {a} {o} and bought {b} more. How many {o} does {n} have now?",
    "There are {a} {o} in a box and {b} {o} in a bag. How many {o} are there in all?",
    "{n} collected {a} {o} on Monday and {b} {o} on Tuesday. How many {o} did {n} collect in total?",
]
EN_SUB = [
    "{n} had {a} {o} and gave {b} of them to {m}. How many {o} does {n} have left?",
    "A shop had {a} {o}. It sold {b} of them. How many {o} are left in the shop?",
    "{n} has {a} {o} and {m} has {b} {o}. How many more {o} does {n} have than {m}?",
    "{n} had {a} {o} and lost {b} of them. How many {o} does {n} have now?",
]
JA_ADD = [
    "{n}さんは{o}を{a}{c}持っています。{m}さんから{b}{c}もらいました。{o}は全部で何{c}になりましたか。",
    "{n}さんは{o}を{a}{c}買いました。そのあとで、さらに{b}{c}買いました。{o}を合わせて何{c}買いましたか。",
    "箱の中に{o}が{a}{c}、袋の中に{b}{c}入っています。{o}は全部で何{c}ありますか。",
    "{n}さんは月曜日に{o}を{a}{c}、火曜日に{b}{c}集めました。{o}を全部で何{c}集めましたか。",
]
JA_SUB = [
    "{n}さんは{o}を{a}{c}持っていました。{m}さんに{b}{c}あげました。{o}は何{c}残っていますか。",
    "お店に{o}が{a}{c}ありました。そのうち{b}{c}売れました。{o}は何{c}残っていますか。",
    "{n}さんは{o}を{a}{c}、{m}さんは{b}{c}持っています。{n}さんは{m}さんより何{c}多く持っていますか。",
    "{n}さんは{o}を{a}{c}持っていましたが、{b}{c}なくしました。{o}は今何{c}ありますか。",
]
JA_MISC = [
    "今日はいい天気です。", "{n}さんは学校に行きました。", "{n}さんは{o}が好きです。", "{n}さんと{m}さんは友だちです。",
    "{n}さんは毎朝{o}を数えます。", "明日は雨がふるかもしれません。", "{n}さんの家には{o}がたくさんあります。",
    "{n}さんは{m}さんに手紙を書きました。", "駅の前に新しいお店ができました。", "{n}さんは夏休みに海へ行きました。",
]

CATS = {
    "a fruit": ["apple", "banana", "orange", "grape", "lemon", "peach", "cherry", "mango", "pear", "plum", "melon",
                "kiwi"],
    "an animal": ["dog", "cat", "horse", "tiger", "lion", "rabbit", "sheep", "goat", "mouse", "bear", "wolf", "fox"],
    "a color": ["red", "blue", "green", "yellow", "purple", "white", "black", "pink", "brown", "gray"],
    "a vehicle": ["car", "bus", "train", "bicycle", "truck", "boat", "plane", "taxi", "ship", "tram"],
    "a tool": ["hammer", "saw", "drill", "wrench", "shovel", "ladder", "knife", "rake"],
    "a musical instrument": ["piano", "guitar", "violin", "drum", "flute", "trumpet", "harp", "cello"],
    "a body part": ["hand", "foot", "nose", "ear", "knee", "elbow", "shoulder", "finger"],
    "a country": ["France", "Japan", "Brazil", "Canada", "Egypt", "India", "Kenya", "Spain", "Italy", "Mexico"],
    "a planet": ["Mars", "Venus", "Jupiter", "Saturn", "Mercury", "Neptune", "Uranus"],
    "a vegetable": ["carrot", "potato", "onion", "cabbage", "lettuce", "spinach", "pea", "radish"],
}
JA_VOCAB = [("りんご", "apple"), ("犬", "dog"), ("猫", "cat"), ("赤", "red"), ("青", "blue"), ("車", "car"),
            ("電車", "train"), ("本", "book"), ("水", "water"), ("山", "mountain"), ("川", "river"), ("空", "sky"),
            ("花", "flower"), ("鳥", "bird"), ("魚", "fish"), ("月", "moon"), ("星", "star"), ("雨", "rain"),
            ("雪", "snow"), ("海", "sea"), ("木", "tree"), ("学校", "school"), ("先生", "teacher"),
            ("友だち", "friend"), ("家", "house"), ("手", "hand"), ("目", "eye"), ("耳", "ear"), ("口", "mouth"),
            ("足", "foot"), ("時計", "clock"), ("机", "desk"), ("いす", "chair"), ("窓", "window"), ("靴", "shoes"),
            ("帽子", "hat"), ("牛乳", "milk"), ("パン", "bread"), ("卵", "egg"), ("肉", "meat"), ("米", "rice"),
            ("お茶", "tea"), ("朝", "morning"), ("夜", "night"), ("春", "spring"), ("夏", "summer"),
            ("秋", "autumn"), ("冬", "winter")]
LABELS = ["A", "B", "C", "D"]


def n_carries(a, b, op):
    c, n = 0, 0
    while a > 0 or b > 0:
        da, db = a % 10, b % 10
        if op == "+":
            s = da + db + c
            c = 1 if s >= 10 else 0
        else:
            s = da - db - c
            c = 1 if s < 0 else 0
        n += c
        a //= 10
        b //= 10
    return n


def arith_pair(rng, op, kind):
    while True:
        if kind == "small":
            a, b = rng.randint(1, 99), rng.randint(1, 99)
        elif kind == "tiny":
            a, b = rng.randint(1, 20), rng.randint(1, 20)
        else:
            a, b = rng.randint(100, 999), rng.randint(100, 999)
        if op == "-":
            if a == b:
                continue
            if a < b:
                a, b = b, a
        if kind in ("easy3",) and n_carries(a, b, op) > 0:
            continue
        if kind in ("hard3",) and n_carries(a, b, op) == 0:
            continue
        return a, b


def equation(a, b, op):
    c = a + b if op == "+" else a - b
    return f"{a}{op}{b}=", str(c)


def word_problem(rng, lang, a, b, op):
    if lang == "en":
        n, m = rng.sample(EN_NAMES, 2)
        o = rng.choice(EN_OBJS)
        t = rng.choice(EN_ADD if op == "+" else EN_SUB)
        return t.format(n=n, m=m, o=o, a=a, b=b)
    n, m = rng.sample(JA_NAMES, 2)
    o, c = rng.choice(JA_OBJS)
    t = rng.choice(JA_ADD if op == "+" else JA_SUB)
    return t.format(n=n, m=m, o=o, c=c, a=str(a).translate(FW), b=str(b).translate(FW))


def mc_item(rng, question, correct, wrong):
    opts = [correct] + list(wrong)
    rng.shuffle(opts)
    return {"question": question, "choices": {"label": list(LABELS), "text": opts},
            "answer": LABELS[opts.index(correct)]}


def gen_knowledge(rng):
    cats = list(CATS)
    cat = rng.choice(cats)
    others = [w for c in cats if c != cat for w in CATS[c]]
    kind = rng.random()
    if kind < 0.4:
        return mc_item(rng, f"Which of these is {cat}?", rng.choice(CATS[cat]), rng.sample(others, 3))
    if kind < 0.7:
        ins = rng.sample(CATS[cat], 3)
        return mc_item(rng, f"Which of these is not {cat}?", rng.choice(others), ins)
    ws = rng.sample(CATS[cat], 4)
    return mc_item(rng, f"Which word belongs with {ws[0]}, {ws[1]} and {ws[2]}?", ws[3], rng.sample(others, 3))


def gen_ja_vocab(rng):
    i = rng.randrange(len(JA_VOCAB))
    ja, en = JA_VOCAB[i]
    wrong = rng.sample([p for j, p in enumerate(JA_VOCAB) if j != i], 3)
    if rng.random() < 0.5:
        return mc_item(rng, f"「{ja}」は英語で何と言いますか。", en, [w[1] for w in wrong])
    return mc_item(rng, f"What is \"{en}\" in Japanese?", ja, [w[0] for w in wrong])


def rand_graph(rng):
    n = rng.randint(5, 8)
    m = rng.randint(n - 2, n + 2)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    edges = rng.sample(pairs, m)
    edges = [(j, i) if rng.random() < 0.5 else (i, j) for i, j in edges]
    adj = {i: set() for i in range(n)}
    for i, j in edges:
        adj[i].add(j)
        adj[j].add(i)
    return n, edges, adj


def bfs(adj, s):
    dist = {s: 0}
    q = [s]
    for u in q:
        for v in sorted(adj[u]):
            if v not in dist:
                dist[v] = dist[u] + 1
                q.append(v)
    return dist


def gen_graph(rng, kind):
    while True:
        n, edges, adj = rand_graph(rng)
        es = ", ".join(f"{i}-{j}" for i, j in edges)
        if kind == "path":
            s = rng.randrange(n)
            d = bfs(adj, s)
            lens = sorted(set(d.values()) - {0})
            if not lens:
                continue
            want = rng.choice(lens)
            t = rng.choice(sorted(v for v, k in d.items() if k == want))
            q = f"Edges: {es}. What is the length of the shortest path from node {s} to node {t}?"
            return {"question": q, "answer": str(d[t])}
        seen, comps = set(), 0
        for u in range(n):
            if u not in seen:
                comps += 1
                seen |= set(bfs(adj, u))
        q = f"Edges: {es}. The nodes are 0 to {n - 1}. How many connected components are there?"
        return {"question": q, "answer": str(comps)}


def gen_sequence(rng):
    r = rng.random()
    if r < 0.35:
        x = rng.randint(1, 998)
        return {"question": f"What number comes after {x}?", "answer": str(x + 1)}
    if r < 0.6:
        x = rng.randint(2, 999)
        return {"question": f"What number comes before {x}?", "answer": str(x - 1)}
    a, d = rng.randint(1, 60), rng.randint(1, 9)
    s = ", ".join(str(a + k * d) for k in range(3))
    return {"question": f"Continue the pattern: {s}, ?", "answer": str(a + 3 * d)}


def gen_compare(rng):
    a, b = rng.sample(range(1, 1000), 2)
    if rng.random() < 0.5:
        return {"question": f"Which is larger, {a} or {b}?", "answer": str(max(a, b))}
    return {"question": f"Which is smaller, {a} or {b}?", "answer": str(min(a, b))}


def prompt_of(item):
    """The exact prompt string the model sees (the TypeScript evaluator must build the same)."""
    if "choices" in item:
        t = item["choices"]["text"]
        return f"Q: {item['question']}\n(A) {t[0]} (B) {t[1]} (C) {t[2]} (D) {t[3]}\nA: "
    return f"Q: {item['question']}\nA: "


def mc_key(item):
    return item["question"] + "|" + "|".join(item["choices"]["text"])


def build_eval_sets():
    rng = random.Random(SEED + 1)
    out, reserved_pairs, reserved_keys = {}, set(), set()

    def arith_set(lang):
        items, seen = [], set()
        while len(items) < N_DEV + N_TEST:
            op = "+" if rng.random() < 0.5 else "-"
            a, b = arith_pair(rng, op, "hard3")
            if (op, a, b) in seen:
                continue
            seen.add((op, a, b))
            reserved_pairs.add((op, a, b))
            lhs, res = equation(a, b, op)
            items.append({"question": word_problem(rng, lang, a, b, op), "answer": res})
        return items

    def uniq_set(fn, key):
        items, seen = [], set()
        while len(items) < N_DEV + N_TEST:
            it = fn()
            k = key(it)
            if k in seen:
                continue
            seen.add(k)
            reserved_keys.add(k)
            items.append(it)
        return items

    sets = {
        "gsm8k": arith_set("en"),
        "mgsm_ja": arith_set("ja"),
        "knowledge_mc": uniq_set(lambda: gen_knowledge(rng), mc_key),
        "nlgraph": uniq_set(lambda: gen_graph(rng, "path" if rng.random() < 0.5 else "comp"),
                            lambda it: it["question"]),
        "ja_vocab": uniq_set(lambda: gen_ja_vocab(rng), mc_key),
    }
    for t, items in sets.items():
        out[t] = {"dev": items[:N_DEV], "test": items[N_DEV:]}
    return out, reserved_pairs, reserved_keys


# A training example is a list of (text, weight) segments; the first is the prompt (weight 0).
def qa(item, w=1.0):
    ans = item["answer"] if "choices" not in item else item["answer"]
    return [(prompt_of(item), 0.0), (ans, w)]


class SourceGen:
    """Training-pool generators. Every eval item (and every (op,a,b) of the hard eval arithmetic) is excluded."""

    def __init__(self, reserved_pairs, reserved_keys, seed):
        self.rp, self.rk = reserved_pairs, reserved_keys
        self.rng = random.Random(seed)

    def pair(self, op, kind):
        while True:
            a, b = arith_pair(self.rng, op, kind)
            if (op, a, b) not in self.rp:
                return a, b

    def arith(self, lang, kind, mode="full"):
        r = self.rng
        op = "+" if r.random() < 0.5 else "-"
        a, b = self.pair(op, kind)
        lhs, res = equation(a, b, op)
        q = word_problem(r, lang, a, b, op)
        p = f"Q: {q}\nA: "
        if mode == "lhs_only":
            return [(p, 0.0), (lhs, 1.0), (res, 0.0)]
        return [(p, 0.0), (lhs + res, 1.0)]

    def raw_eq(self, kind):
        r = self.rng
        op = "+" if r.random() < 0.5 else "-"
        a, b = self.pair(op, kind)
        lhs, res = equation(a, b, op)
        q = f"What is {a} plus {b}?" if op == "+" else f"What is {a} minus {b}?"
        return [(f"Q: {q}\nA: ", 0.0), (lhs + res, 1.0)]

    def en_copy(self):
        r = self.rng
        n = r.choice(EN_NAMES)
        o = r.choice(EN_OBJS)
        a = r.randint(1, 999)
        return [(f"Q: {n} has {a} {o}. How many {o} does {n} have?\nA: ", 0.0), (str(a), 1.0)]

    def ja_text(self):
        r = self.rng
        if r.random() < 0.6:
            op = "+" if r.random() < 0.5 else "-"
            kind = r.choice(["small", "any3"])
            a, b = self.pair(op, kind)
            return [(word_problem(r, "ja", a, b, op), 1.0)]
        n, m = r.sample(JA_NAMES, 2)
        o, c = r.choice(JA_OBJS)
        s = "".join(t.format(n=n, m=m, o=o) for t in r.sample(JA_MISC, 2))
        return [(s, 1.0)]

    def keyed(self, fn, key):
        while True:
            it = fn()
            if key(it) not in self.rk:
                return qa(it)

    def make(self, name):
        r = self.rng
        if name == "en_small":
            return self.arith("en", "small")
        if name == "en_easy3":
            return self.arith("en", "easy3")
        if name == "en_any3":
            return self.arith("en", "any3")
        if name == "eq_small":
            return self.raw_eq("small")
        if name == "eq_easy3":
            return self.raw_eq("easy3")
        if name == "eq_any3":
            return self.raw_eq("any3")
        if name == "en_copy":
            return self.en_copy()
        if name == "ja_text":
            return self.ja_text()
        if name == "ja_small":
            return self.arith("ja", "small")
        if name == "ja_big_lhs":
            return self.arith("ja", "any3", mode="lhs_only")
        if name == "ja_easy3":
            return self.arith("ja", "easy3")
        if name == "ja_all_lhs":
            return self.arith("ja", "small" if r.random() < 0.5 else "any3", mode="lhs_only")
        if name == "knowledge_mc":
            return self.keyed(lambda: gen_knowledge(r), mc_key)
        if name == "ja_vocab":
            return self.keyed(lambda: gen_ja_vocab(r), mc_key)
        if name == "graph_path":
            return self.keyed(lambda: gen_graph(r, "path"), lambda it: it["question"])
        if name == "graph_comp":
            return self.keyed(lambda: gen_graph(r, "comp"), lambda it: it["question"])
        if name == "sequence":
            return qa(gen_sequence(r))
        if name == "compare":
            return qa(gen_compare(r))
        raise KeyError(name)


# The base sees: English word problems with 1-2 digit numbers (all carries) and carry-free 3-digit
# numbers, no Japanese question/answer pairs at all (only Japanese text), some of every other skill.
BASE_MIX = {"en_small": 0.20, "en_easy3": 0.06, "eq_small": 0.06, "eq_easy3": 0.04, "en_copy": 0.04,
            "ja_text": 0.14, "ja_vocab": 0.06, "knowledge_mc": 0.10, "graph_path": 0.08, "graph_comp": 0.08,
            "sequence": 0.08, "compare": 0.06}
# Experts: own mixture (70% of each batch) + 30% replay of the base mixture.
EXPERTS = {
    # "layers": only the LoRA of these layers is trained (lora_B elsewhere stays exactly 0). "seed": the seed
    # offset these two had in the selection run (see README, "How the Japanese-math headroom was obtained").
    "ja_reader": {"mix": {"ja_small": 0.35, "ja_easy3": 0.35, "ja_big_lhs": 0.3}, "steps": 1000, "layers": [0, 1],
                  "seed": 14,
                  "about": "Japanese reading (LoRA trained in layers 0-1 only): Japanese word problems -> the equation "
                           "line; full answers only where the arithmetic is easy (1-2 digits, or 3 digits without "
                           "carries), only the equation's left side for other 3-digit problems"},
    "math": {"mix": {"en_any3": 0.5, "eq_any3": 0.3, "en_small": 0.2}, "steps": 1500, "layers": [2, 3], "seed": 11,
             "about": "English multi-digit arithmetic, 3-digit +/- with carries/borrows (LoRA trained in layers 2-3 only)"},
    "graph_path": {"mix": {"graph_path": 1.0}, "steps": 1000, "about": "graph shortest-path lengths"},
    "graph_comp": {"mix": {"graph_comp": 1.0}, "steps": 1000, "about": "graph connected-component counts"},
    "knowledge": {"mix": {"knowledge_mc": 1.0}, "steps": 1000, "about": "English category knowledge, multiple choice"},
    "ja_vocab": {"mix": {"ja_vocab": 1.0}, "steps": 1000, "about": "Japanese-English vocabulary, multiple choice"},
    "sequence": {"mix": {"sequence": 1.0}, "steps": 800, "about": "next/previous number, arithmetic sequences"},
    "compare": {"mix": {"compare": 1.0}, "steps": 800, "about": "larger/smaller of two numbers"},
}
REPLAY = 0.3
SPECS = dict(EXPERTS)


def all_chars():
    s = set()
    for lst in (JA_NAMES, JA_ADD, JA_SUB, JA_MISC, EN_NAMES, EN_OBJS, EN_ADD, EN_SUB):
        for x in lst:
            s |= set(x)
    for o, c in JA_OBJS:
        s |= set(o + c)
    for ja, en in JA_VOCAB:
        s |= set(ja + en)
    for c, ws in CATS.items():
        s |= set(c + "".join(ws))
    s |= set("0123456789０１２３４５６７８９+-=?.,:;()\"'「」。、 \nABCDQabcdefghijklmnopqrstuvwxyz")
    s |= set("「」は英語で何と言いますか。What is in Japanese?")
    s.discard("{")
    s.discard("}")
    return sorted(s)


# ----------------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------------
def score(kind, text, gold):
    text = text.translate(FW_BACK)
    if kind == "mc":
        s = text.strip()
        return bool(s) and s[0] == gold
    nums = re.findall(r"\d+", text)
    return bool(nums) and nums[-1] == gold


# ----------------------------------------------------------------------------------------------
# Stages
# ----------------------------------------------------------------------------------------------
class Ctx:
    pass


def stage_data(C, write=True):
    ev, rp, rk = build_eval_sets()
    C.eval_sets, C.reserved_pairs, C.reserved_keys = ev, rp, rk
    if not write:
        return
    os.makedirs(C.data_dir, exist_ok=True)
    for t in TASKS:
        p = os.path.join(C.data_dir, f"{t}.json")
        with open(p, "w", encoding="utf-8") as f:
            json.dump(ev[t], f, ensure_ascii=False, separators=(",", ":"))
    log("data: wrote", ", ".join(f"{t}({len(ev[t]['dev'])}/{len(ev[t]['test'])})" for t in TASKS))


def load_tok(C):
    from tokenizers import Tokenizer
    C.tok = Tokenizer.from_file(os.path.join(C.base_dir, "tokenizer.json"))
    C.bos, C.eos, C.pad = (C.tok.token_to_id(x) for x in ("<s>", "</s>", "<pad>"))


def stage_tokenizer(C):
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, processors, trainers
    if os.path.exists(os.path.join(C.base_dir, "tokenizer.json")) and not C.force:
        log("tokenizer: exists, skip")
        return
    gen = SourceGen(C.reserved_pairs, C.reserved_keys, SEED + 7)
    corpus = []
    names = ["en_small", "en_easy3", "eq_small", "eq_easy3", "en_copy", "ja_text", "ja_vocab", "knowledge_mc",
             "graph_path", "graph_comp", "sequence", "compare", "ja_small", "ja_big_lhs", "en_any3", "eq_any3"]
    for name in names:
        for _ in range(3000 if not C.smoke else 300):
            corpus.append("".join(t for t, _ in gen.make(name)))
    chars = all_chars()
    corpus += ["\n".join(chars)] * 5
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=2,
                                  special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
                                  max_token_length=9)
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    assert [tok.token_to_id(x) for x in ("<pad>", "<s>", "</s>", "<unk>")] == [0, 1, 2, 3]
    os.makedirs(C.base_dir, exist_ok=True)
    # save via transformers so that AutoTokenizer works, then overwrite tokenizer.json with ours
    from transformers import PreTrainedTokenizerFast
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                 pad_token="<pad>", padding_side="left", model_max_length=256)
    hf.save_pretrained(C.base_dir)
    tok.save(os.path.join(C.base_dir, "tokenizer.json"))
    stm = os.path.join(C.base_dir, "special_tokens_map.json")
    if not os.path.exists(stm):
        with open(stm, "w") as f:
            json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}, f)
    multi = [c for c in chars if ord(c) > 127 and len(tok.encode(c, add_special_tokens=False).ids) != 1]
    log(f"tokenizer: vocab {tok.get_vocab_size()}, non-ASCII chars {sum(ord(c) > 127 for c in chars)},"
        f" not single tokens: {''.join(multi)!r}")
    ex = "Q: 太郎さんはりんごを３４５個持っています。\nA: 345+12=357"
    log("tokenizer example:", tok.encode(ex).tokens)
    from transformers import AutoTokenizer
    at = AutoTokenizer.from_pretrained(C.base_dir)
    same = at(ex)["input_ids"] == tok.encode(ex).ids
    log("AutoTokenizer loads; ids equal tokenizers' (with BOS):", same, "decode:", at.decode(tok.encode(ex).ids,
                                                                                               skip_special_tokens=True) == ex)


def tokenize_examples(C, exs):
    """exs: list of segment lists -> (ids list, weights list) with BOS/EOS."""
    flat, owners = [], []
    for i, ex in enumerate(exs):
        for t, w in ex:
            flat.append(t)
            owners.append((i, w))
    encs = C.tok.encode_batch(flat, add_special_tokens=False)
    ids = [[C.bos] for _ in exs]
    ws = [[0.0] for _ in exs]
    last_w = [0.0] * len(exs)
    for (i, w), e in zip(owners, encs):
        ids[i].extend(e.ids)
        ws[i].extend([w] * len(e.ids))
        last_w[i] = w
    for i in range(len(exs)):
        ids[i].append(C.eos)
        ws[i].append(last_w[i])
    return ids, ws


def build_pools(C, names, n, seed):
    import torch
    import zlib
    pools = {}
    for name in sorted(names):
        gen = SourceGen(C.reserved_pairs, C.reserved_keys, seed + zlib.crc32(name.encode()))
        exs = [gen.make(name) for _ in range(n)]
        ids, ws = tokenize_examples(C, exs)
        pools[name] = (ids, ws)
    L = max(len(x) for ids, _ in pools.values() for x in ids)
    import numpy as np
    out = {}
    for name, (ids, ws) in pools.items():
        I = np.full((len(ids), L), C.pad, dtype=np.int64)
        W = np.zeros((len(ids), L), dtype=np.float32)
        for k, (a, b) in enumerate(zip(ids, ws)):
            I[k, :len(a)] = a
            W[k, :len(b)] = b
        out[name] = (torch.from_numpy(I).cuda(), torch.from_numpy(W).cuda())
    return out, L


class Batcher:
    def __init__(self, pools, mix_parts, batch, seed):
        """mix_parts: list of (weight, {name: w}) groups."""
        import torch
        self.pools = pools
        counts = {}
        for gw, mix in mix_parts:
            tot = sum(mix.values())
            for k, w in mix.items():
                counts[k] = counts.get(k, 0) + gw * w / tot * batch
        ks = sorted(counts)
        ints = {k: int(math.floor(counts[k])) for k in ks}
        rem = batch - sum(ints.values())
        for k in sorted(ks, key=lambda k: -(counts[k] - ints[k]))[:rem]:
            ints[k] += 1
        self.counts = {k: v for k, v in ints.items() if v > 0}
        self.g = torch.Generator(device="cuda")
        self.g.manual_seed(seed)

    def next(self):
        import torch
        I, W = [], []
        for k, c in self.counts.items():
            Pi, Pw = self.pools[k]
            idx = torch.randint(0, Pi.shape[0], (c,), device="cuda", generator=self.g)
            I.append(Pi[idx])
            W.append(Pw[idx])
        return torch.cat(I), torch.cat(W)


def lm_loss(model, I, W):
    import torch.nn.functional as F
    logits = model(input_ids=I).logits[:, :-1].float()
    tgt = I[:, 1:]
    w = W[:, 1:]
    l = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), reduction="none")
    return (l * w.reshape(-1)).sum() / w.sum().clamp(min=1.0)


def train_loop(model, params, batcher, steps, lr, warmup, tag):
    import torch
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.98), weight_decay=0.01, fused=True)

    def lr_at(s):
        if s < warmup:
            return lr * (s + 1) / warmup
        p = (s - warmup) / max(1, steps - warmup)
        return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))

    model.train()
    t = time.time()
    acc = 0.0
    for s in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(s)
        I, W = batcher.next()
        loss = lm_loss(model, I, W)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        acc += loss.detach()
        if (s + 1) % max(1, steps // 5) == 0 or s == steps - 1:
            n = max(1, steps // 5) if (s + 1) % max(1, steps // 5) == 0 else 1
            log(f"  {tag} step {s + 1}/{steps} loss {float(acc) / n:.4f} ({(time.time() - t) / (s + 1) * 1000:.1f} ms/step)")
            acc = 0.0
    model.eval()


def set_seeds(seed):
    import torch
    random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def stage_base(C):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, GenerationConfig
    if os.path.exists(os.path.join(C.base_dir, "model.safetensors")) and not C.force:
        log("base: exists, skip")
        return
    set_seeds(SEED + 11)
    cfg = LlamaConfig(vocab_size=C.tok.get_vocab_size(), tie_word_embeddings=True, bos_token_id=C.bos,
                      eos_token_id=C.eos, pad_token_id=C.pad, attention_bias=False, mlp_bias=False,
                      hidden_act="silu", **MODEL_CFG)
    model = LlamaForCausalLM(cfg).cuda()
    nparam = sum(p.numel() for p in model.parameters())
    log(f"base: {nparam / 1e6:.2f}M params")
    pools, L = build_pools(C, list(BASE_MIX), C.pool_n, SEED + 21)
    log(f"base: pools built, L={L}")
    b = Batcher(pools, [(1.0, BASE_MIX)], C.batch, SEED + 31)
    train_loop(model, [p for p in model.parameters()], b, C.base_steps, 1.5e-3, 200 if not C.smoke else 5, "base")
    # round to fp16 (the stored format); experts are trained on the rounded base
    model = model.half()
    model.generation_config = GenerationConfig(bos_token_id=C.bos, eos_token_id=C.eos, pad_token_id=C.pad,
                                               do_sample=False, max_new_tokens=16)
    model.config.name_or_path = "base"
    model.save_pretrained(C.base_dir)
    from safetensors import safe_open
    with safe_open(os.path.join(C.base_dir, "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    log(f"base: saved ({len(keys)} tensors, lm_head stored separately: {'lm_head.weight' in keys})")


def load_base(C, attn="eager"):
    import torch
    from transformers import LlamaForCausalLM
    m = LlamaForCausalLM.from_pretrained(C.base_dir, dtype=torch.float32, attn_implementation=attn).cuda()
    m.eval()
    return m


def stage_experts(C):
    import torch
    from peft import LoraConfig, get_peft_model
    todo = [e for e in C.train_names if C.force or not os.path.exists(
        os.path.join(C.zoo, e, "adapter_model.safetensors"))]
    if C.only:
        todo = [e for e in todo if e == C.only]
    if not todo:
        log("experts: all exist, skip")
        return
    if C.jobs > 1 and not C.only:
        # one process per expert, sharing the GPU (each is launch-bound); results are identical to serial runs
        import subprocess
        os.makedirs(C.work, exist_ok=True)
        procs = []
        for e in todo:
            cmd = [sys.executable, os.path.abspath(__file__), "--stages", "experts", "--only", e, "--repo", C.repo,
                   "--zoo", C.zoo, "--data", C.data_dir, "--work", C.work, "--batch", str(C.batch),
                   "--pool", str(C.pool_arg)] + (["--smoke"] if C.smoke else []) + (["--force"] if C.force else [])
            lf = open(os.path.join(C.work, f"expert_{e}.log"), "w")
            procs.append((e, subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT), lf))
        bad = []
        for e, pr, lf in procs:
            rc = pr.wait()
            lf.close()
            for line in open(os.path.join(C.work, f"expert_{e}.log")):
                if "warn" not in line.lower() and "Loading weights" not in line:
                    print(f"    [{e}] {line.rstrip()}")
            if rc != 0:
                bad.append(e)
        if bad:
            raise SystemExit(f"expert training failed: {bad}")
        log("experts: all trained")
        return
    names = sorted(set(BASE_MIX) | {k for e in todo for k in SPECS[e]["mix"]})
    pools, L = build_pools(C, names, C.pool_n, SEED + 41)
    log(f"experts: pools built, L={L}")
    for ei, e in enumerate(list(SPECS)):
        if e not in todo:
            continue
        ei = SPECS[e].get("seed", ei)
        set_seeds(SEED + 100 + ei)
        base = load_base(C, attn="sdpa")
        base.name_or_path = "base"
        lcfg = LoraConfig(task_type="CAUSAL_LM", r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=0.0,
                          target_modules=list(MODULES), bias="none")
        pm = get_peft_model(base, lcfg)
        spec = SPECS[e]
        if spec.get("layers") is not None:
            # train only the LoRA of these layers; elsewhere B stays 0, so the delta there is exactly 0
            for n_, p_ in pm.named_parameters():
                m_ = re.search(r"\.layers\.(\d+)\.", n_)
                if "lora_" in n_ and m_ and int(m_.group(1)) not in spec["layers"]:
                    p_.requires_grad_(False)
        params = [p for p in pm.parameters() if p.requires_grad]
        log(f"  {e}: {sum(p.numel() for p in params)} trainable LoRA parameters")
        b = Batcher(pools, [(1 - REPLAY, spec["mix"]), (REPLAY, BASE_MIX)], C.batch, SEED + 200 + ei)
        steps = spec["steps"] if not C.smoke else 10
        train_loop(pm, params, b, steps, 2e-3, 50 if not C.smoke else 2, e)
        d = os.path.join(C.zoo, e)
        pm.save_pretrained(d)
        cp = os.path.join(d, "adapter_config.json")
        with open(cp) as f:
            ac = json.load(f)
        ac["base_model_name_or_path"] = "base"
        with open(cp, "w") as f:
            json.dump(ac, f, indent=2, sort_keys=True)
        rm = os.path.join(d, "README.md")
        if os.path.exists(rm):
            os.remove(rm)
        log(f"experts: saved {e}")
        del pm, base
        torch.cuda.empty_cache()


# ----------------------------------------------------------------------------------------------
# Adapters, merges, HF evaluation
# ----------------------------------------------------------------------------------------------
def load_adapter(C, name):
    """-> {(layer, module): (A [r,in], B [out,r])} float32 cpu, and scale."""
    from safetensors.torch import load_file
    d = os.path.join(C.zoo, name)
    sd = load_file(os.path.join(d, "adapter_model.safetensors"))
    with open(os.path.join(d, "adapter_config.json")) as f:
        ac = json.load(f)
    out = {}
    for k, v in sd.items():
        m = re.match(r"base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_([AB])\.weight$", k)
        assert m, k
        key = (int(m.group(1)), m.group(3))
        out.setdefault(key, {})[m.group(4)] = v.float()
    scale = ac["lora_alpha"] / ac["r"]
    return {k: (v["A"], v["B"]) for k, v in out.items()}, scale


def stack_adapters(C, weights):
    """weights: {expert: w}. Exact low-rank representation of sum_i w_i * s_i * B_i A_i:
    A = concat_i(w_i * s_i * A_i) along rank, B = concat_i(B_i); scale 1."""
    acc = {}
    for name, w in weights.items():
        ad, s = C.adapters[name]
        for k, (A, B) in ad.items():
            acc.setdefault(k, ([], []))
            acc[k][0].append(A * (w * s))
            acc[k][1].append(B)
    import torch
    return {k: (torch.cat(a, 0), torch.cat(b, 1)) for k, (a, b) in acc.items()}, 1.0


def merged_model(C, stacked):
    """HF model with W' = W + scale * B A for every target module (fp32)."""
    import torch
    m = C.base_fp32
    sd = {k: v.clone() for k, v in C.base_sd.items()}
    if stacked is not None:
        ad, s = stacked
        for (l, mod), (A, B) in ad.items():
            part = "self_attn" if mod in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
            key = f"model.layers.{l}.{part}.{mod}.weight"
            sd[key] = sd[key] + s * (B.cuda() @ A.cuda())
    m.load_state_dict(sd, strict=False)
    return m


def left_pad(ids_list, pad):
    import numpy as np
    L = max(len(x) for x in ids_list)
    I = np.full((len(ids_list), L), pad, dtype=np.int64)
    M = np.zeros((len(ids_list), L), dtype=np.int64)
    for i, x in enumerate(ids_list):
        I[i, L - len(x):] = x
        M[i, L - len(x):] = 1
    P = np.clip(np.cumsum(M, 1) - 1, 0, None)
    return I, M, P


def hf_greedy(C, model, prompts, max_new, bs=1024):
    """Greedy decoding with HF forward + KV cache; left padding; position_ids = cumsum(mask)-1.
    Returns token id lists (without EOS)."""
    import torch
    res = []
    for s in range(0, len(prompts), bs):
        chunk = prompts[s:s + bs]
        I, M, P = left_pad(chunk, C.pad)
        I, M, P = (torch.from_numpy(x).cuda() for x in (I, M, P))
        out = model(input_ids=I, attention_mask=M, position_ids=P, use_cache=True)
        past = out.past_key_values
        nxt = out.logits[:, -1].argmax(-1)
        gen = [nxt]
        done = nxt == C.eos
        pos = P[:, -1:]
        for _ in range(max_new - 1):
            if bool(done.all()):
                break
            M = torch.cat([M, torch.ones_like(M[:, :1])], 1)
            pos = pos + 1
            out = model(input_ids=nxt[:, None], attention_mask=M, position_ids=pos, past_key_values=past,
                        use_cache=True)
            past = out.past_key_values
            nxt = out.logits[:, -1].argmax(-1)
            gen.append(nxt)
            done = done | (nxt == C.eos)
        G = torch.stack(gen, 1).tolist()
        for g in G:
            res.append(g[:g.index(C.eos)] if C.eos in g else g)
    return res


def prompt_ids(C, items):
    return [[C.bos] + e.ids for e in C.tok.encode_batch([prompt_of(it) for it in items], add_special_tokens=False)]


def eval_model(C, model, tasks=TASKS, splits=("dev", "test"), keep=False):
    import torch
    res, gens = {}, {}
    with torch.no_grad():
        for t in tasks:
            items = [it for sp in splits for it in C.eval_sets[t][sp]]
            kind = TASK_KIND[t]
            g = hf_greedy(C, model, prompt_ids(C, items), MAX_NEW[kind])
            texts = C.tok.decode_batch(g, skip_special_tokens=True)
            ok = [score(kind, x, it["answer"]) for x, it in zip(texts, items)]
            if t in ("gsm8k", "mgsm_ja"):
                lhs_ok = 0
                for x, it in zip(texts, items):
                    a_, b_ = re.findall(r"\d+", it["question"].translate(FW_BACK))[:2]
                    op = "+" if int(a_) + int(b_) == int(it["answer"]) else "-"
                    lhs_ok += x.startswith(f"{a_}{op}{b_}=")
                res[f"{t}/lhs_ok"] = lhs_ok / len(items)
            o = 0
            for sp in splits:
                n = len(C.eval_sets[t][sp])
                res[f"{t}/{sp}"] = sum(ok[o:o + n]) / n
                o += n
            if keep:
                gens[t] = (g, texts)
    return res, gens


def setup_eval(C):
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if not hasattr(C, "eval_sets"):
        C.eval_sets = {t: json.load(open(os.path.join(C.data_dir, f"{t}.json"), encoding="utf-8")) for t in TASKS}
    C.base_fp32 = load_base(C, attn="eager")
    C.base_sd = {k: v.clone() for k, v in C.base_fp32.state_dict().items()}
    C.adapters = {e: load_adapter(C, e) for e in C.expert_names}


def merge_configs(C):
    """Named merges evaluated in the table: name -> {expert: weight}."""
    ex = C.expert_names
    cfgs = {"merge: uniform average of all experts' deltas": {e: 1.0 / len(ex) for e in ex},
            "merge: task arithmetic ja_reader + math (λ=1)": {"ja_reader": 1.0, "math": 1.0}}
    return cfgs


def stage_eval(C):
    import torch
    setup_eval(C)
    results = {}
    # sanity: PEFT-loaded expert == merged-weight model
    from peft import PeftModel
    items = C.eval_sets["mgsm_ja"]["dev"][:16]
    I, M, P = (torch.from_numpy(x).cuda() for x in left_pad(prompt_ids(C, items), C.pad))
    from transformers import LlamaForCausalLM
    b2 = LlamaForCausalLM.from_pretrained(C.base_dir, dtype=torch.float32, attn_implementation="eager").cuda()
    pm = PeftModel.from_pretrained(b2, os.path.join(C.zoo, "ja_reader")).eval()
    with torch.no_grad():
        lp = pm(input_ids=I, attention_mask=M, position_ids=P).logits
        lm = merged_model(C, stack_adapters(C, {"ja_reader": 1.0}))(input_ids=I, attention_mask=M,
                                                                    position_ids=P).logits
    d = (lp - lm)[M.bool()].abs().max().item()
    log(f"eval: PEFT-loaded ja_reader vs merged-weights model: max |Δlogit| = {d:.2e}")
    C.checks = {"peft_vs_merged_max_abs_logit_diff": d}
    del pm, b2
    models = [("base", None)] + [(e, {e: 1.0}) for e in C.expert_names] + list(merge_configs(C).items())
    for name, w in models:
        m = merged_model(C, stack_adapters(C, w) if w else None)
        r, _ = eval_model(C, m)
        results[name] = r
        log(f"eval {name}: " + " ".join(f"{k}={v:.3f}" for k, v in r.items() if not k.endswith("/dev")))
    # λ sweep of the Japanese + math task arithmetic on mgsm_ja (selection on dev)
    sweep = {}
    for lam in (0.5, 0.75, 1.0, 1.25, 1.5):
        for lam2 in (0.5, 0.75, 1.0, 1.25, 1.5):
            if lam != lam2 and not (lam == 1.0 or lam2 == 1.0):
                continue
            m = merged_model(C, stack_adapters(C, {"ja_reader": lam, "math": lam2}))
            r, _ = eval_model(C, m, tasks=["mgsm_ja", "gsm8k"])
            sweep[f"{lam},{lam2}"] = r
    best = max(sweep, key=lambda k: (sweep[k]["mgsm_ja/dev"], -abs(float(k.split(",")[0]) - 1)))
    log("eval sweep (ja_reader λ, math λ): " + " ".join(f"{k}:{v['mgsm_ja/dev']:.3f}/{v['mgsm_ja/test']:.3f}"
                                                       for k, v in sweep.items()))
    # sample generations for the README
    samples = {}
    it = C.eval_sets["mgsm_ja"]["test"][:3]
    for name, w in [("base", None), ("ja_reader", {"ja_reader": 1.0}), ("math", {"math": 1.0}),
                    ("ja_reader+math", {"ja_reader": 1.0, "math": 1.0})]:
        m = merged_model(C, stack_adapters(C, w) if w else None)
        g = hf_greedy(C, m, prompt_ids(C, it), 16)
        samples[name] = C.tok.decode_batch(g, skip_special_tokens=True)
    out = {"table": results, "sweep": sweep, "sweep_best_on_dev": best, "checks": C.checks,
           "samples": {"questions": [x["question"] for x in it], "answers": [x["answer"] for x in it],
                       "outputs": samples}}
    with open(os.path.join(C.zoo, "eval_results.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
    log("eval: wrote eval_results.json")


# ----------------------------------------------------------------------------------------------
# ONNX decoder
# ----------------------------------------------------------------------------------------------
def build_onnx_module(C):
    import torch
    import torch.nn.functional as F
    cfg = C.base_fp32.config
    nL, H, KV = cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads
    D = cfg.hidden_size // H
    eps = cfg.rms_norm_eps
    from safetensors.torch import load_file
    raw = load_file(os.path.join(C.base_dir, "model.safetensors"))  # fp16 tensors as stored
    inv_freq = C.base_fp32.model.rotary_emb.inv_freq.detach().float().cpu()
    att_scale = float(getattr(C.base_fp32.model.rotary_emb, "attention_scaling", 1.0))

    class Dec(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.keys = sorted(raw)
            for i, k in enumerate(self.keys):
                self.register_buffer(f"w{i}", raw[k].clone())
            self.kidx = {k: i for i, k in enumerate(self.keys)}
            self.register_buffer("inv_freq", inv_freq.clone())

        def W(self, k):
            return getattr(self, f"w{self.kidx[k]}").float()

        def forward(self, input_ids, attention_mask, position_ids, adapter_ids, *rest):
            past = rest[:2 * nL]
            As = rest[2 * nL:2 * nL + 7 * nL]
            Bs = rest[2 * nL + 7 * nL:2 * nL + 14 * nL]
            lora_scale = rest[-1]
            sc = lora_scale.index_select(0, adapter_ids)[:, None, None]

            def lin(x, key, l, mod):
                j = l * 7 + MODULES.index(mod)
                a = As[j].index_select(0, adapter_ids)  # [B,R,in]
                b = Bs[j].index_select(0, adapter_ids)  # [B,out,R]
                y = F.linear(x, self.W(key))
                t = torch.matmul(x, a.transpose(1, 2)) * sc
                return y + torch.matmul(t, b.transpose(1, 2))

            def rms(x, key):
                v = x.pow(2).mean(-1, keepdim=True)
                return self.W(key) * (x * torch.rsqrt(v + eps))

            emb = self.W("model.embed_tokens.weight")
            h = F.embedding(input_ids, emb)
            one_k = torch.ones_like(attention_mask)
            one_q = torch.ones_like(input_ids)
            k_idx = torch.cumsum(one_k, 1) - 1  # [B,T]
            q_idx = torch.cumsum(one_q, 1) - 1 + (one_k.sum(1, keepdim=True) - one_q.sum(1, keepdim=True))
            mask = (k_idx[:, None, None, :] <= q_idx[:, None, :, None]) & (attention_mask[:, None, None, :] > 0)
            freqs = position_ids.float()[:, :, None] * self.inv_freq[None, None, :]
            embp = torch.cat([freqs, freqs], -1)
            cos = (embp.cos() * att_scale)[:, None]
            sin = (embp.sin() * att_scale)[:, None]

            def rot(x):
                x1, x2 = x[..., :D // 2], x[..., D // 2:]
                return torch.cat([-x2, x1], -1)

            presents = []
            for l in range(nL):
                p = f"model.layers.{l}."
                x = rms(h, p + "input_layernorm.weight")
                q = lin(x, p + "self_attn.q_proj.weight", l, "q_proj")
                k = lin(x, p + "self_attn.k_proj.weight", l, "k_proj")
                v = lin(x, p + "self_attn.v_proj.weight", l, "v_proj")
                q = q.unflatten(-1, (H, D)).transpose(1, 2)
                k = k.unflatten(-1, (KV, D)).transpose(1, 2)
                v = v.unflatten(-1, (KV, D)).transpose(1, 2)
                q = q * cos + rot(q) * sin
                k = k * cos + rot(k) * sin
                k = torch.cat([past[2 * l], k], 2)
                v = torch.cat([past[2 * l + 1], v], 2)
                presents += [k, v]
                if KV != H:
                    k = k.repeat_interleave(H // KV, dim=1)
                    v = v.repeat_interleave(H // KV, dim=1)
                s = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(D))
                s = torch.where(mask, s, torch.full_like(s, -1e9))
                pr = torch.softmax(s, -1)
                o = torch.matmul(pr, v).transpose(1, 2).flatten(2)
                h = h + lin(o, p + "self_attn.o_proj.weight", l, "o_proj")
                x = rms(h, p + "post_attention_layernorm.weight")
                g = lin(x, p + "mlp.gate_proj.weight", l, "gate_proj")
                u = lin(x, p + "mlp.up_proj.weight", l, "up_proj")
                h = h + lin(F.silu(g) * u, p + "mlp.down_proj.weight", l, "down_proj")
            h = rms(h, "model.norm.weight")
            head = self.W("lm_head.weight") if "lm_head.weight" in self.kidx else emb
            logits = F.linear(h, head)
            return (logits, *presents)

    return Dec().eval(), (nL, H, KV, D)


def lora_feed(C, stacked_list, rank=None):
    """stacked_list: list of (adapter dict, scale) -> ORT feed of lora_A/lora_B/lora_scale (zero-padded ranks)."""
    import numpy as np
    cfg = C.base_fp32.config
    nL = cfg.num_hidden_layers
    R = rank or max(max(A.shape[0] for A, B in ad.values()) for ad, s in stacked_list)
    feed = {}
    for l in range(nL):
        for mod in MODULES:
            As, Bs = [], []
            for ad, s in stacked_list:
                A, B = ad[(l, mod)]
                Ap = np.zeros((R, A.shape[1]), np.float32)
                Bp = np.zeros((B.shape[0], R), np.float32)
                Ap[:A.shape[0]] = A.numpy()
                Bp[:, :B.shape[1]] = B.numpy()
                As.append(Ap)
                Bs.append(Bp)
            feed[f"lora_A.{l}.{mod}"] = np.stack(As)
            feed[f"lora_B.{l}.{mod}"] = np.stack(Bs)
    feed["lora_scale"] = np.array([s for ad, s in stacked_list], np.float32)
    return feed


def zero_adapter(C):
    import torch
    ad0, _ = C.adapters[C.expert_names[0]]
    return {k: (torch.zeros_like(A), torch.zeros_like(B)) for k, (A, B) in ad0.items()}, 1.0


def externalize(onnx_in, onnx_out, st_path, rel_loc):
    import onnx
    from onnx import numpy_helper
    with open(st_path, "rb") as f:
        blob = f.read()
    hl = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + hl])
    start = 8 + hl
    index = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        index[hashlib.sha256(blob[start + b:start + e]).hexdigest()] = (start + b, e - b, k)
    m = onnx.load(onnx_in)
    n_ext, n_emb, emb_bytes = 0, 0, 0
    for init in m.graph.initializer:
        arr = numpy_helper.to_array(init)
        h = hashlib.sha256(arr.tobytes()).hexdigest()
        if h in index and arr.nbytes >= 256:
            off, ln, k = index[h]
            for fld in ("raw_data", "float_data", "int32_data", "int64_data", "double_data"):
                init.ClearField(fld)
            init.data_location = onnx.TensorProto.EXTERNAL
            del init.external_data[:]
            for kk, vv in (("location", rel_loc), ("offset", str(off)), ("length", str(ln))):
                e = init.external_data.add()
                e.key, e.value = kk, vv
            n_ext += 1
        else:
            n_emb += 1
            emb_bytes += arr.nbytes
    onnx.save(m, onnx_out)
    return n_ext, n_emb, emb_bytes


def ort_greedy(sess, C, dims, prompts, max_new, feed_lora, adapter_ids=None, bs=256):
    import numpy as np
    nL, H, KV, D = dims
    res = []
    outs_names = [o.name for o in sess.get_outputs()]
    for s in range(0, len(prompts), bs):
        chunk = prompts[s:s + bs]
        I, M, P = left_pad(chunk, C.pad)
        Bn = I.shape[0]
        aid = np.zeros(Bn, np.int64) if adapter_ids is None else np.asarray(adapter_ids[s:s + bs], np.int64)
        feed = dict(feed_lora)
        feed.update(input_ids=I, attention_mask=M, position_ids=P, adapter_ids=aid)
        for l in range(nL):
            feed[f"past_key_values.{l}.key"] = np.zeros((Bn, KV, 0, D), np.float32)
            feed[f"past_key_values.{l}.value"] = np.zeros((Bn, KV, 0, D), np.float32)
        gen, done, pos = [], np.zeros(Bn, bool), P[:, -1:]
        for step in range(max_new):
            out = dict(zip(outs_names, sess.run(None, feed)))
            nxt = out["logits"][:, -1].argmax(-1)
            gen.append(nxt)
            done |= nxt == C.eos
            if done.all():
                break
            M = np.concatenate([M, np.ones((Bn, 1), np.int64)], 1)
            pos = pos + 1
            feed.update(input_ids=nxt[:, None].astype(np.int64), attention_mask=M, position_ids=pos)
            for l in range(nL):
                feed[f"past_key_values.{l}.key"] = out[f"present.{l}.key"]
                feed[f"past_key_values.{l}.value"] = out[f"present.{l}.value"]
        G = np.stack(gen, 1).tolist()
        for g in G:
            res.append(g[:g.index(C.eos)] if C.eos in g else g)
    return res


def stage_onnx(C):
    import numpy as np
    import torch
    import onnx
    import onnxruntime as ort
    if not hasattr(C, "base_fp32"):
        setup_eval(C)
    dec, dims = build_onnx_module(C)
    nL, H, KV, D = dims
    Bd, Sd, Pd, Nd, Rd = 2, 3, 2, 2, 5
    args = [torch.randint(4, 100, (Bd, Sd)), torch.ones(Bd, Pd + Sd, dtype=torch.long),
            torch.arange(Pd, Pd + Sd).repeat(Bd, 1), torch.tensor([0, 1])]
    names = ["input_ids", "attention_mask", "position_ids", "adapter_ids"]
    dyn = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total"},
           "position_ids": {0: "batch", 1: "seq"}, "adapter_ids": {0: "batch"}}
    for l in range(nL):
        for kv in ("key", "value"):
            n = f"past_key_values.{l}.{kv}"
            args.append(torch.randn(Bd, KV, Pd, D))
            names.append(n)
            dyn[n] = {0: "batch", 2: "past"}
    sd = C.base_fp32.state_dict()
    for AB in ("A", "B"):
        for l in range(nL):
            for mod in MODULES:
                part = "self_attn" if mod in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
                out_f, in_f = sd[f"model.layers.{l}.{part}.{mod}.weight"].shape
                n = f"lora_{AB}.{l}.{mod}"
                if AB == "A":
                    args.append(torch.randn(Nd, Rd, in_f) * 0.01)
                    dyn[n] = {0: "n_adapters", 1: "rank"}
                else:
                    args.append(torch.randn(Nd, out_f, Rd) * 0.01)
                    dyn[n] = {0: "n_adapters", 2: "rank"}
                names.append(n)
    args.append(torch.tensor([2.0, 1.0]))
    names.append("lora_scale")
    dyn["lora_scale"] = {0: "n_adapters"}
    outs = ["logits"] + [f"present.{l}.{kv}" for l in range(nL) for kv in ("key", "value")]
    dyn["logits"] = {0: "batch", 1: "seq"}
    for l in range(nL):
        for kv in ("key", "value"):
            dyn[f"present.{l}.{kv}"] = {0: "batch", 2: "total"}
    tmp = os.path.join(C.work, "decoder_embedded.onnx")
    os.makedirs(C.work, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(dec, tuple(args), tmp, input_names=names, output_names=outs, dynamic_axes=dyn,
                          opset_version=17, do_constant_folding=False, dynamo=False)
    log("onnx: exported", os.path.getsize(tmp), "bytes (embedded)")
    onnx_path = os.path.join(C.zoo, "decoder.onnx")
    n_ext, n_emb, emb_bytes = externalize(tmp, onnx_path, os.path.join(C.base_dir, "model.safetensors"),
                                          "base/model.safetensors")
    onnx.checker.check_model(onnx_path)
    mo = onnx.load(onnx_path, load_external_data=False)
    inits = {i.name for i in mo.graph.initializer}
    gin = [i.name for i in mo.graph.input]
    assert not any(n.startswith("lora_") for n in inits), "LoRA tensors must not be initializers"
    assert all(n in gin for n in names), set(names) - set(gin)
    log(f"onnx: {onnx_path} {os.path.getsize(onnx_path)} bytes; {n_ext} initializers point into "
        f"base/model.safetensors, {n_emb} small ones embedded ({emb_bytes} bytes); inputs {len(gin)}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = min(16, os.cpu_count() or 4)
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    onames = [o.name for o in sess.get_outputs()]
    checks = {}
    configs = [("base", zero_adapter(C))] + [(e, C.adapters[e]) for e in C.expert_names] + \
              [(n, stack_adapters(C, w)) for n, w in merge_configs(C).items()]
    # 1) logits: prefill on mixed-task prompts, then a 3-token continuation through the KV cache
    items = [it for t in TASKS for it in C.eval_sets[t]["dev"][:8]]
    pids = prompt_ids(C, items)
    I, M, P = left_pad(pids, C.pad)
    Bn, L = I.shape
    cut = L - 3
    maxdiff = {}
    for name, st in configs:
        hf = merged_model(C, st)
        with torch.no_grad():
            ref = hf(input_ids=torch.from_numpy(I).cuda(), attention_mask=torch.from_numpy(M).cuda(),
                     position_ids=torch.from_numpy(P).cuda()).logits.cpu().numpy()
        feed = lora_feed(C, [st])
        feed.update(input_ids=I[:, :cut], attention_mask=M[:, :cut], position_ids=P[:, :cut],
                    adapter_ids=np.zeros(Bn, np.int64))
        for l in range(nL):
            feed[f"past_key_values.{l}.key"] = np.zeros((Bn, KV, 0, D), np.float32)
            feed[f"past_key_values.{l}.value"] = np.zeros((Bn, KV, 0, D), np.float32)
        o1 = dict(zip(onames, sess.run(None, feed)))
        feed.update(input_ids=I[:, cut:], attention_mask=M, position_ids=P[:, cut:])
        for l in range(nL):
            feed[f"past_key_values.{l}.key"] = o1[f"present.{l}.key"]
            feed[f"past_key_values.{l}.value"] = o1[f"present.{l}.value"]
        o2 = dict(zip(onames, sess.run(None, feed)))
        lo = np.concatenate([o1["logits"], o2["logits"]], 1)
        valid = M.astype(bool)
        maxdiff[name] = float(np.abs(lo - ref)[valid].max())
    checks["logits_max_abs_diff"] = maxdiff
    log("onnx: logits max |Δ| vs HF: " + " ".join(f"{k[:24]}={v:.1e}" for k, v in maxdiff.items()))
    # 2) greedy outputs on every dev set: ORT vs HF
    greedy = {}
    for name, st in configs:
        hf = merged_model(C, st)
        feed = lora_feed(C, [st])
        same = tot = 0
        for t in TASKS:
            items = C.eval_sets[t]["dev"]
            pids = prompt_ids(C, items)
            with torch.no_grad():
                g_hf = hf_greedy(C, hf, pids, MAX_NEW[TASK_KIND[t]])
            g_ort = ort_greedy(sess, C, dims, pids, MAX_NEW[TASK_KIND[t]], feed)
            same += sum(a == b for a, b in zip(g_hf, g_ort))
            tot += len(items)
        greedy[name] = [same, tot]
    checks["greedy_identical_dev"] = greedy
    log("onnx: greedy identical on dev: " + " ".join(f"{k[:24]}={a}/{b}" for k, (a, b) in greedy.items()))
    # 3) one batch mixing adapters (ranks zero-padded) == each row run alone
    mix = [st for _, st in configs]
    feedm = lora_feed(C, mix)
    items = [it for t in TASKS for it in C.eval_sets[t]["dev"][:6]]
    pids = prompt_ids(C, items)
    I, M, P = left_pad(pids, C.pad)
    Bn = I.shape[0]
    aid = np.arange(Bn) % len(mix)
    feed = dict(feedm)
    feed.update(input_ids=I, attention_mask=M, position_ids=P, adapter_ids=aid.astype(np.int64))
    for l in range(nL):
        feed[f"past_key_values.{l}.key"] = np.zeros((Bn, KV, 0, D), np.float32)
        feed[f"past_key_values.{l}.value"] = np.zeros((Bn, KV, 0, D), np.float32)
    lm = sess.run(["logits"], feed)[0]
    md = 0.0
    for ci, (name, st) in enumerate(configs):
        rows = np.where(aid == ci)[0]
        if len(rows) == 0:
            continue
        f1 = lora_feed(C, [st])
        f1.update(input_ids=I[rows], attention_mask=M[rows], position_ids=P[rows],
                  adapter_ids=np.zeros(len(rows), np.int64))
        for l in range(nL):
            f1[f"past_key_values.{l}.key"] = np.zeros((len(rows), KV, 0, D), np.float32)
            f1[f"past_key_values.{l}.value"] = np.zeros((len(rows), KV, 0, D), np.float32)
        la = sess.run(["logits"], f1)[0]
        md = max(md, float(np.abs(lm[rows] - la)[M[rows].astype(bool)].max()))
    checks["mixed_adapter_batch_max_abs_diff"] = md
    checks["mixed_adapter_batch"] = f"{len(mix)} adapters (ranks zero-padded to {feedm['lora_A.0.q_proj'].shape[1]}), {Bn} rows"
    log(f"onnx: mixed-adapter batch vs alone max |Δ| = {md:.2e}")
    # 4) CPU timing, 2 threads, 100 questions per task, stacked ja_reader+math merge (rank 16)
    so2 = ort.SessionOptions()
    so2.intra_op_num_threads = 2
    so2.inter_op_num_threads = 1
    s2 = ort.InferenceSession(onnx_path, so2, providers=["CPUExecutionProvider"])
    feed = lora_feed(C, [stack_adapters(C, {"ja_reader": 1.0, "math": 1.0})])
    timing = {}
    for t in TASKS:
        items = C.eval_sets[t]["dev"][:100]
        pids = prompt_ids(C, items)
        t0 = time.time()
        ort_greedy(s2, C, dims, pids, MAX_NEW[TASK_KIND[t]], feed, bs=100)
        timing[t] = round(time.time() - t0, 3)
    checks["ort_cpu_2threads_100q_seconds"] = timing
    checks["ort_cpu_model"] = os.popen("grep -m1 'model name' /proc/cpuinfo").read().split(":", 1)[-1].strip()
    log("onnx: ORT CPU (2 threads) seconds per 100 questions: " + str(timing))
    with open(os.path.join(C.zoo, "onnx_checks.json"), "w") as f:
        json.dump(checks, f, ensure_ascii=False, indent=1)


# ----------------------------------------------------------------------------------------------
# README
# ----------------------------------------------------------------------------------------------
def human(n):
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def stage_readme(C):
    ev = json.load(open(os.path.join(C.zoo, "eval_results.json"), encoding="utf-8"))
    oc_p = os.path.join(C.zoo, "onnx_checks.json")
    oc = json.load(open(oc_p)) if os.path.exists(oc_p) else None
    T = ev["table"]
    head = "| model | " + " | ".join(f"{t} dev | {t} test" for t in TASKS) + " |"
    sep = "|---|" + "---|---|" * len(TASKS)
    rows = [head, sep]
    for name, r in T.items():
        rows.append(f"| {name} | " + " | ".join(f"{r[t + '/dev'] * 100:.1f} | {r[t + '/test'] * 100:.1f}"
                                                for t in TASKS) + " |")
    experts = C.expert_names
    best_single = max(experts, key=lambda e: T[e]["mgsm_ja/dev"])
    best_single_test = max(T[e]["mgsm_ja/test"] for e in experts)
    ta = T["merge: task arithmetic ja_reader + math (λ=1)"]["mgsm_ja/test"]
    sw = ev["sweep"]
    bk = ev["sweep_best_on_dev"]
    sweep_rows = ["| λ ja_reader | λ math | mgsm_ja dev | mgsm_ja test | gsm8k dev | gsm8k test |",
                  "|---|---|---|---|---|---|"]
    for k, r in sw.items():
        a, b = k.split(",")
        sweep_rows.append(f"| {a} | {b} | {r['mgsm_ja/dev'] * 100:.1f} | {r['mgsm_ja/test'] * 100:.1f} | "
                          f"{r['gsm8k/dev'] * 100:.1f} | {r['gsm8k/test'] * 100:.1f} |")
    sizes = []
    total = 0
    for root in (C.zoo, C.data_dir):
        for dp, dn, fn in os.walk(root):
            for f in sorted(fn):
                p = os.path.join(dp, f)
                if "__pycache__" in p:
                    continue
                s = os.path.getsize(p)
                total += s
                sizes.append((os.path.relpath(p, C.repo), s))
    size_rows = ["| file | bytes |", "|---|---|"] + [f"| {p} | {s} |" for p, s in sorted(sizes)]
    samp = ev["samples"]
    samp_lines = []
    for i, q in enumerate(samp["questions"]):
        samp_lines.append(f"- `{q}` (gold {samp['answers'][i]})")
        for k, outs in samp["outputs"].items():
            samp_lines.append(f"  - {k}: `{outs[i]}`")
    if oc:
        ld = oc["logits_max_abs_diff"]
        gi = oc["greedy_identical_dev"]
        onnx_rows = ["| adapter fed to decoder.onnx | max abs logit diff vs HF (fp32) | identical greedy outputs, all dev sets |",
                     "|---|---|---|"] + [f"| {k} | {ld[k]:.2e} | {gi[k][0]}/{gi[k][1]} |" for k in ld]
        onnx_txt = "\n".join(onnx_rows) + (
            f"\n\nMixed batch ({oc['mixed_adapter_batch']}, `adapter_ids` = row mod n) vs each row run alone: "
            f"max abs logit diff {oc['mixed_adapter_batch_max_abs_diff']:.2e}.\n\n"
            f"Python onnxruntime 1.30, CPUExecutionProvider, 2 intra-op threads, on the GPU host's CPU "
            f"({oc['ort_cpu_model'].split(':', 1)[-1].strip()}), greedy with KV cache, one batch of 100 dev questions, the ja_reader+math "
            f"merge as one stacked rank-16 adapter — seconds per 100 questions: "
            + ", ".join(f"{t} {v}" for t, v in oc["ort_cpu_2threads_100q_seconds"].items()) + ".")
    else:
        onnx_txt = "(ONNX checks not run yet)"
    readme = README_TEMPLATE.format(
        table="\n".join(rows), sweep="\n".join(sweep_rows), best_single=best_single,
        best_single_test=best_single_test * 100, ta=ta * 100, sweep_best=bk,
        sweep_best_test=sw[bk]["mgsm_ja/test"] * 100, onnx=onnx_txt, sizes="\n".join(size_rows),
        total=human(total), total_b=total, samples="\n".join(samp_lines),
        peft_diff=ev["checks"]["peft_vs_merged_max_abs_logit_diff"],
        experts="\n".join(f"| `{e}` | {EXPERTS[e]['about']} | {EXPERTS[e]['steps']} | "
                          + ", ".join(f"{k} {v:g}" for k, v in EXPERTS[e]["mix"].items()) + " |" for e in experts),
        base_mix=", ".join(f"{k} {v:g}" for k, v in BASE_MIX.items()), base_steps=C.base_steps,
        batch=C.batch, r=LORA_R, alpha=LORA_ALPHA, replay=REPLAY, seed=SEED,
        cfg=", ".join(f"{k} {v}" for k, v in MODEL_CFG.items()),
        vocab=json.load(open(os.path.join(C.base_dir, "config.json")))["vocab_size"])
    with open(os.path.join(C.zoo, "README.md"), "w", encoding="utf-8") as f:
        f.write(readme)
    log(f"readme: written; zoo+data total {total} bytes")


README_TEMPLATE = """# initial_experts — the bundled demo zoo

Everything in this folder and in `data/eval/` is produced by one deterministic script,
[`build_zoo.py`](build_zoo.py) (seed {seed}). The numbers below were measured by that script on the GPU host
(H100, PyTorch 2.11, transformers 5.17, PEFT, onnxruntime 1.30) and written into this file by it.

Regenerate (from the repository root, on a CUDA machine; about 9 minutes on an H100, where the 8 experts train
as 8 parallel processes sharing the GPU):

```
PYTHONUNBUFFERED=1 python3 initial_experts/build_zoo.py --stages all --force
```

Stages can be run separately (`--stages data,tokenizer,base,experts,eval,onnx,readme`); a stage whose output
exists is skipped unless `--force`. All seeds are fixed, and the data, tokenizer and evaluation are exactly
reproducible. Some CUDA training kernels (e.g. the embedding backward) are not bitwise deterministic, so a
regenerated base or expert can differ in the last bits, and the tables can differ slightly.

## Contents

- `base/` — Hugging Face folder of a small `LlamaForCausalLM` ({cfg}, vocab {vocab}, tied input/output
  embeddings; weights stored as float16 in `model.safetensors`; `config.json`, `generation_config.json`,
  `tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json`). `AutoTokenizer.from_pretrained("base")`
  and `LlamaForCausalLM.from_pretrained("base", dtype=torch.float32)` load it.
- `<expert>/` — PEFT LoRA adapters (`adapter_config.json`, `adapter_model.safetensors`, float32), all with
  r = {r}, lora_alpha = {alpha} (scale alpha/r = 2) on q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj,
  down_proj of every layer; `base_model_name_or_path` is `"base"`. Tensor names are PEFT's:
  `base_model.model.model.layers.{{L}}.self_attn.q_proj.lora_A.weight` ([r, in]) and `...lora_B.weight`
  ([out, r]); MLP modules under `.mlp.`.
- `decoder.onnx` — the decoder with KV cache and per-row LoRA inputs (contract below). Its base weights are
  NOT stored in it: each weight initializer is ONNX external data whose `location` is `base/model.safetensors`
  with `offset`/`length` pointing at the raw float16 bytes of that tensor inside the safetensors file (cast to
  float32 in the graph). Keep `decoder.onnx` next to `base/`; onnxruntime (Python, Node) resolves it relative
  to the model file. The product does not run it: its own graph builder (`src/engine/model/graph-builder.ts`)
  builds the decoder from `base/` as for any Hugging Face model; this PyTorch export stays as the reference that
  builder is tested against (same logits, same answers).
- `eval_results.json`, `onnx_checks.json` — the raw measurements behind the tables below.
- `../data/eval/<task>.json` — `{{"dev": [200 items], "test": [500 items]}}` per task. Test items (and, for
  the arithmetic tasks, every `(operation, a, b)` of dev and test) were excluded from all training data.

## Tokenizer

Byte-level BPE trained with `tokenizers`. Training asked for 2048 tokens with max_token_length 9 and stopped
at {vocab}, when no more merges were available. Components: pre-tokenizer `Sequence[Digits(individual_digits=true),
ByteLevel(add_prefix_space=false)]`, decoder `ByteLevel`, post-processor `TemplateProcessing` adding `<s>`.
Every digit (ASCII and full-width) is its own token, and every Japanese character used in the data exists as a
single token. Example: `Q: 太郎さんはりんごを３４５個持っています。` →
`Q | : | ␣太郎 | さん | は | りん+⅔ご | ⅓ご+を | ３ | ４ | ５ | 個 | 持っ | てい | ます | 。`. As in other
byte-level BPEs (GPT-2, Llama 3), a merged token can split a character's UTF-8 bytes; decoding a whole
sequence is exact. Special ids: `<pad>`=0, `<s>`=1 (BOS), `</s>`=2 (EOS), `<unk>`=3.

Checked once outside this script (2026-11-22, Node 20, `@huggingface/tokenizers` 0.2.0, `onnxruntime-node`
1.30, a 2-core CPU), feeding ja_reader+math as one stacked rank-16 adapter:
- the JS tokenizer gives the same tokens as Python;
- the dev accuracies are exactly those in the table below (gsm8k 81.0, mgsm_ja 60.0, knowledge_mc 63.5,
  nlgraph 56.5, ja_vocab 32.5);
- 100 questions take 0.3–1.0 s per task once warm.

Note: `decode([])` throws in `@huggingface/tokenizers`; handle an empty generation yourself.

## Prompts, answers, scoring

- Prompt ids = `[1]` (BOS) + encode(prompt) (= `tokenizer(prompt)` with its post-processor).
- Numeric tasks (`gsm8k`, `mgsm_ja`, `nlgraph`): prompt `Q: {{question}}\\nA: ` (note the trailing space).
  Arithmetic answers are one equation line, e.g. `345+178=523` (the same ASCII format for English and Japanese;
  Japanese questions write numbers in full-width digits, e.g. `３４５個`); graph answers are a number.
- Multiple choice (`knowledge_mc`, `ja_vocab`): prompt
  `Q: {{question}}\\n(A) {{text[0]}} (B) {{text[1]}} (C) {{text[2]}} (D) {{text[3]}}\\nA: `; the answer is the letter.
- Decoding: greedy; stop at EOS (id 2) or after max_new_tokens (16 numeric, 3 multiple choice). The generated
  answer is the decoded text of the tokens before EOS.
- Scoring: numeric — the last run of digits in the answer (full-width digits mapped to ASCII first) equals the
  gold string; multiple choice — the first non-space character equals the gold letter.
- Batching for HF and ONNX alike: left padding with `<pad>`, `attention_mask` 1 on real tokens,
  `position_ids = max(cumsum(attention_mask) - 1, 0)`; during decoding the position of a new token is the
  previous position + 1 and the mask grows by a 1 column.

## How the zoo was made

- Data: template generators (English and Japanese word problems, category knowledge, graph questions,
  Japanese-English vocabulary, number sequences, comparisons); see the generators in the script.
- Base: {base_steps} steps, batch {batch}, AdamW lr 1.5e-3 (warm-up, cosine to 10%), loss on answer tokens
  (on all tokens for plain Japanese text). Mixture: {base_mix}. The base sees English word problems with 1–2
  digit numbers (all carries) and 3-digit numbers only without carries/borrows; it sees Japanese only as plain
  text (the problems without answers, other sentences) and never a Japanese question with an answer.
- Experts: PEFT LoRA (r {r}, alpha {alpha}, no dropout), AdamW lr 2e-3, batch {batch}; each batch is
  {replay:g} replay of the base mixture and the rest the expert's own mixture:

| expert | skill | steps | own mixture |
|---|---|---|---|
{experts}

The Japanese-math story. `mgsm_ja` (and `gsm8k`) test items are 3-digit additions/subtractions with at least
one carry or borrow. The base answers English problems with 1–2 digit numbers and carry-free 3-digit numbers but
fails carries (gsm8k below), and has never seen a Japanese question with an answer. `ja_reader` is trained on
Japanese problems only: with the full answer where the arithmetic is easy (1–2 digit numbers, or 3-digit
without carries), and with only the equation's left side `a+b=` / `a-b=` for other 3-digit problems. So it
reads Japanese phrasing and full-width digits but cannot do carries. `math` does 3-digit carries but has
never seen Japanese. Its LoRA is trained only in layers 2–3 and `ja_reader`'s only in layers 0–1 (the other
layers' `lora_B` stay exactly zero; the files still hold all 28 modules, so every expert has the same shapes).
The equation line is the shared interface; the reader maps Japanese onto the representation the later-layer
arithmetic reads.

### How the Japanese-math headroom was obtained (development runs, earlier versions of this script)

These numbers come from development runs of earlier versions of this script on the same base and data. The
final script does not rerun them. mgsm_ja accuracy, dev / test, task arithmetic with λ = 1 for both:

| ja expert | math expert | mgsm_ja dev / test |
|---|---|---|
| all layers; full answers for 1–2 digits, left side only for 3 digits | all layers | 0.5 / 0.2 (left side right only 0.6%; best λ of a 13-point grid 2.5 / 4.2) |
| all layers; left side only, all sizes | all layers | 8.0 / 4.4 |
| layers 0–2; left side only | layers 2–3 | 5.5 / 6.4 |
| layers 0–1; left side only | layers 2–3 | 29.0 / 26.2 |
| layers 0–1; full answers for 1–2 digits, left side only for 3 digits | layers 2–3 | 34.5 / 33.2 |
| layer 0 only; as shipped | layers 2–3 | 5.5 / 9.4 |
| layers 0–1; as shipped | all layers | 42.0 / 42.2 |
| **layers 0–1; as shipped** | **layers 2–3 (shipped)** | **60.0 / 61.2** |

The shipped pair was chosen on mgsm_ja dev. Single experts stayed at or below 3.5% on mgsm_ja in every
variant. Two things mattered:
- Confining each expert to its own layers. When both deltas cover all layers they collide: the sum destroys
  even the digit copying.
- Training the reader with full answers on Japanese problems whose arithmetic the base can already do. This
  teaches it to present Japanese operands the way the arithmetic circuit reads English ones.

## Measured accuracy (%), HF transformers greedy decoding, fp32

{table}

Merges add weight deltas: W' = W + Σ_i w_i · (alpha/r) · B_i A_i (uniform: w_i = 1/8; task arithmetic:
w = 1 for ja_reader and math). A PEFT-loaded expert and the merged-weight model agree to
{peft_diff:.1e} in logits.

Task arithmetic of ja_reader and math over a small λ grid (selected on mgsm_ja dev: {sweep_best}, test
{sweep_best_test:.1f}%):

{sweep}

Headroom on `mgsm_ja` (test): best single expert {best_single_test:.1f}% (best on dev: `{best_single}`);
task arithmetic ja_reader + math (λ=1) {ta:.1f}%.

Examples (mgsm_ja test):

{samples}

## ONNX decoder contract (`decoder.onnx`, opset 17)

Inputs (symbolic dims: batch, seq, past, total = past + seq, n_adapters, rank):

| name | type | shape |
|---|---|---|
| `input_ids` | int64 | [batch, seq] |
| `attention_mask` | int64 | [batch, total] (1 = real token, 0 = padding; covers past and new tokens) |
| `position_ids` | int64 | [batch, seq] |
| `adapter_ids` | int64 | [batch] — row → index into the adapter axis |
| `past_key_values.{{l}}.key`, `past_key_values.{{l}}.value` | float32 | [batch, 4, past, 64], l = 0..3 (past = 0 for the first call) |
| `lora_A.{{l}}.{{m}}` | float32 | [n_adapters, rank, in_features] |
| `lora_B.{{l}}.{{m}}` | float32 | [n_adapters, out_features, rank] |
| `lora_scale` | float32 | [n_adapters] |

m ∈ q_proj (in 256, out 256), k_proj (256, 256), v_proj (256, 256), o_proj (256, 256), gate_proj (256, 688),
up_proj (256, 688), down_proj (688, 256); l = 0..3. Outputs: `logits` float32 [batch, seq, vocab] and
`present.{{l}}.key` / `present.{{l}}.value` float32 [batch, 4, total, 64] (feed them back as the next past).

For each row b with a = adapter_ids[b], every target projection computes
`y = W x + lora_scale[a] · B[a] (A[a] x)`. A PEFT expert is fed as A = lora_A.weight, B = lora_B.weight,
lora_scale = alpha / r = 2. A weighted merge Σ_i w_i · s_i · B_i A_i is fed exactly as ONE adapter of rank
Σ r_i: A = concat_i(w_i · s_i · A_i) along the rank axis, B = concat_i(B_i) along the rank axis, lora_scale = 1.
All adapters of one call share one rank: zero-pad smaller ones (zero rows of A / columns of B change nothing).
The plain base model = any adapter with lora_scale 0 (or zero A/B). All LoRA tensors are graph inputs, never
initializers. The attention is causal over slots (a new token at slot p attends to slots ≤ p) and masked by
`attention_mask`.

Checks run by the script (Python onnxruntime, CPU):

{onnx}

## Sizes

{sizes}

Total (initial_experts/ + data/eval/): {total_b} bytes ({total}).
"""


# ----------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stages", default="all")
    ap.add_argument("--repo", default=".")
    ap.add_argument("--zoo", default=None)
    ap.add_argument("--data", default=None)
    ap.add_argument("--work", default="/tmp/zoo-work")
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--base-steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--pool", type=int, default=40000)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--only", default=None)
    a = ap.parse_args()
    C = Ctx()
    C.repo = os.path.abspath(a.repo)
    C.zoo = os.path.abspath(a.zoo or os.path.join(C.repo, "initial_experts"))
    C.data_dir = os.path.abspath(a.data or os.path.join(C.repo, "data", "eval"))
    C.base_dir = os.path.join(C.zoo, "base")
    C.work = a.work
    C.force, C.smoke = a.force, a.smoke
    C.base_steps = a.base_steps if not a.smoke else 30
    C.batch = a.batch
    C.pool_n = a.pool if not a.smoke else 2000
    C.pool_arg = a.pool
    C.jobs, C.only = a.jobs, a.only
    C.expert_names = list(EXPERTS)
    C.train_names = [a.only] if a.only else list(EXPERTS)
    stages = ["data", "tokenizer", "base", "experts", "eval", "onnx", "readme"] if a.stages == "all" \
        else a.stages.split(",")
    # data is regenerated every run (cheap, deterministic) because training needs the reserved sets
    stage_data(C, write=not C.only)
    need_torch = any(s in stages for s in ("tokenizer", "base", "experts", "eval", "onnx"))
    if need_torch:
        import torch
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.use_deterministic_algorithms(True, warn_only=True)
        log("torch", torch.__version__, "cuda", torch.cuda.is_available(),
            torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
    if "tokenizer" in stages:
        stage_tokenizer(C)
    if any(s in stages for s in ("base", "experts", "eval", "onnx")):
        load_tok(C)
    if "base" in stages:
        stage_base(C)
    if "experts" in stages:
        stage_experts(C)
    if "eval" in stages:
        stage_eval(C)
    if "onnx" in stages:
        stage_onnx(C)
    if "readme" in stages:
        stage_readme(C)
    log("done")


if __name__ == "__main__":
    main()
