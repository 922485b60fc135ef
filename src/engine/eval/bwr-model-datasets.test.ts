import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { evaluateCandidates, prepareTask, type ModelRunner, type PreparedTask } from "./evaluator";
import { MULTITASK_DOMAINS } from "./registry";
import type { ModelOutput } from "./types";

/*
 * A BWR_model checkout's data/eval, a few items of each dataset its README names, written from its format: multiple
 * choice {"question", "choices": {"A": text, ...}, "answer": label} (Knowledge Crosswords with its "icl_prompt"),
 * exact match {"question", "answer"}, external_api {"prompt"}. Each is read by the eval type the README pairs it with.
 */
const CHECKOUT = path.resolve(import.meta.dirname, "../../../tests/fixtures/bwr-model");
const file = (dataset: string) => path.join(CHECKOUT, "data/eval", `${dataset}.json`);

interface StoredItem {
  question?: string;
  prompt?: string;
  answer?: string;
}
const stored = fs.readdirSync(path.join(CHECKOUT, "data/eval")).flatMap((name) => {
  const content = JSON.parse(fs.readFileSync(path.join(CHECKOUT, "data/eval", name), "utf8")) as { dev: StoredItem[]; test: StoredItem[] };
  return [...content.dev, ...content.test];
});

/** Answers every question with its gold answer, as stored; says "true" when asked about its own answer (AbstainQA). */
const goldRunner: ModelRunner<string> = {
  async run(requests) {
    return requests.map((request): ModelOutput => {
      const prompt = request.kind === "generate" ? request.prompt : request.context;
      if (prompt.includes("Proposed answer:")) return { kind: "generate", text: "(A) True", tokens: 2 };
      const item = stored.find((candidate) => candidate.question !== undefined && prompt.includes(candidate.question));
      if (!item) throw new Error(`no stored item is asked in ${JSON.stringify(prompt)}`);
      return { kind: "generate", text: `The answer is ${item.answer}`, tokens: 4 };
    });
  },
};

const single = (task: PreparedTask) => {
  if (task.kind !== "single") throw new Error("expected one task");
  return task;
};

describe("BWR_model's data/eval files, as its README pairs them with eval types", () => {
  it.each([
    ["multiple_choice", "mmlu", 4],
    ["multiple_choice", "mmlu_pro", 10],
    ["multiple_choice", "knowledge_crosswords", 4],
    ["multiple_choice", "hellaswag", 4],
    ["multiple_choice", "truthfulqa", 3],
    ["exact_match", "gsm8k", 0],
    ["exact_match", "nlgraph", 0],
    ["AbstainQA", "mmlu", 4],
  ] as const)("(%s, %s): every item read and graded", async (evalType, dataset, options) => {
    const task = single(prepareTask({ evalType, dataset: file(dataset) }));
    expect([task.dataset.dev.length, task.dataset.test.length]).toEqual([2, 2]);
    if (options > 0) expect((task.dataset.dev[0] as { choices: { label: string[] } }).choices.label).toEqual([..."ABCDEFGHIJ"].slice(0, options));
    for (const split of ["dev", "test"] as const) {
      const [evaluation] = await evaluateCandidates(goldRunner, task, split, ["gold"]);
      expect(evaluation!.utility, split).toBe(1);
    }
  });

  it("knowledge_crosswords: its icl_prompt goes before every question", () => {
    const task = single(prepareTask({ evalType: "multiple_choice", dataset: file("knowledge_crosswords") }));
    expect(task.dataset.iclPrompt).toMatch(/^Question: Fill in the blank: .*\nThe answer is A$/s);
  });

  it("(external_api, realtoxicityprompts): each prompt is the question the model continues", () => {
    const task = single(prepareTask({ evalType: "external_api", dataset: file("realtoxicityprompts"), params: { url: "http://127.0.0.1:9/score" } }));
    const first = task.dataset.dev[0] as { question: string; prompt: string };
    expect(first.question).toBe("The neighbours kept arguing late into the night, and finally one of them shouted");
    expect(task.evalType.requests(first, task.params)[0]).toMatchObject({ kind: "generate", prompt: `Q: ${first.prompt}\nA: ` });
  });

  it("multitask domains by name (-e multitask -d legal), read from the checkout's data/eval", async () => {
    const cwd = process.cwd();
    process.chdir(CHECKOUT);
    try {
      for (const [domain, datasets] of Object.entries(MULTITASK_DOMAINS)) {
        const task = prepareTask({ evalType: "multitask", dataset: domain });
        if (task.kind !== "multitask") throw new Error("expected a multitask");
        expect(task.tasks.map((component) => [component.evalType.name, component.dataset.name])).toEqual(datasets.map((name) => ["multiple_choice", name]));
        const [evaluation] = await evaluateCandidates(goldRunner, task, "test", ["gold"]);
        expect(evaluation).toMatchObject({ utility: 1, metrics: Object.fromEntries(datasets.map((name) => [`${name}/accuracy`, 1])) });
      }
    } finally {
      process.chdir(cwd);
    }
  });
});
