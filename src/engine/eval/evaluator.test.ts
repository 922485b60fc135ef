import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatasetError } from "./datasets";
import { EvalConfigError, evaluateCandidates, prepareTask, type ModelRunner, type PreparedTask } from "./evaluator";
import type { EvalType, ModelOutput, QuestionResult } from "./types";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eval-test-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function writeDataset(name: string, content: unknown): string {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
  return file;
}

const arithmetic = writeDataset("arith", {
  dev: [
    { question: "2+2?", answer: "4" },
    { question: "10-3?", answer: 7 },
    { question: "5*5?", answer: "25" },
  ],
  test: [{ question: "1+1?", answer: "2" }],
});

const gold: Record<string, string> = { "2+2?": "4", "10-3?": "7", "5*5?": "25", "1+1?": "2" };

/** Candidate 0 always answers right, candidate 1 right only on the first question; "B" for choices. */
const fakeRunner: ModelRunner<string> = {
  async run(requests): Promise<ModelOutput[]> {
    return requests.map((request) => {
      if (request.kind === "loglikelihood") return { kind: "loglikelihood", logprob: request.continuation === "B" ? -0.1 : -3, tokens: 1 };
      const question = /Q: (.*)\n/.exec(request.prompt)?.[1] ?? "";
      if (request.prompt.includes("(A)")) return { kind: "generate", text: "The answer is B", tokens: 4 };
      const right = request.adapter === 0 || question === "2+2?";
      return { kind: "generate", text: right ? `答えは${gold[question]}です。` : "The answer is 0.", tokens: right ? 5 : 4 };
    });
  },
};

describe("evaluateCandidates", () => {
  it("batches candidates and scores each on its own answers", async () => {
    const task = prepareTask({ evalType: "exact_match", dataset: arithmetic });
    const [good, poor] = await evaluateCandidates(fakeRunner, task, "dev", ["good", "poor"]);
    expect(good!.utility).toBe(1);
    expect(poor!.utility).toBeCloseTo(1 / 3);
    expect(poor!.results.map((result) => result.correct)).toEqual([true, false, false]);
    expect(good!.tokens).toBe(15);
    expect(good!.results[0]).toMatchObject({ index: 0, prediction: "答えは4です。", correct: true, tokens: 5, score: 1 });
  });

  it("names the runner's device on each evaluation, with the memory it holds once the batch is done", async () => {
    let batches = 0;
    const onDevice: ModelRunner<string> = {
      run: async (requests, adapters) => ((batches += 1), fakeRunner.run(requests, adapters)),
      device: { host: "h", name: "GPU 1", memoryInUseBytes: async () => batches * 1000 },
    };
    const task = prepareTask({ evalType: "exact_match", dataset: arithmetic });
    const evaluations = await evaluateCandidates(onDevice, task, "dev", ["good", "poor"]);
    expect(evaluations.map((evaluation) => evaluation.device)).toEqual([
      { host: "h", name: "GPU 1", memoryBytes: 1000 },
      { host: "h", name: "GPU 1", memoryBytes: 1000 },
    ]);
    expect((await evaluateCandidates(fakeRunner, task, "dev", ["good"]))[0]!.device).toBeUndefined();
  });

  it("keeps the test split apart from dev", async () => {
    const task = prepareTask({ evalType: "exact_match", dataset: arithmetic });
    const [evaluation] = await evaluateCandidates(fakeRunner, task, "test", ["good"]);
    expect(evaluation!.results).toHaveLength(1);
  });

  it("requires Japanese for exact_match_language and trades length for length_aware", async () => {
    const language = prepareTask({ evalType: "exact_match_language", dataset: arithmetic });
    const [ja] = await evaluateCandidates(fakeRunner, language, "dev", ["good"]);
    expect(ja!.utility).toBe(1);
    const lengthAware = prepareTask({ evalType: "length_aware", dataset: arithmetic, params: { maxNewTokens: 10, lengthWeight: 1 } });
    const [short] = await evaluateCandidates(fakeRunner, lengthAware, "dev", ["good"]);
    expect(short!.utility).toBeCloseTo(1 - 5 / 10);
    expect(short!.metrics).toMatchObject({ accuracy: 1, mean_tokens: 5 });
  });

  it("scores multiple choice by generated letter or by log-likelihood", async () => {
    const choices = writeDataset("mc", {
      dev: [{ question: "Which?", choices: { label: ["A", "B", "C", "D"], text: ["w", "x", "y", "z"] }, answer: "B" }],
      test: [{ question: "Which?", choices: { label: ["A", "B"], text: ["w", "x"] }, answer: "A" }],
    });
    for (const scoring of ["generate", "loglikelihood"]) {
      const task = prepareTask({ evalType: "multiple_choice", dataset: choices, params: { scoring } });
      const [dev] = await evaluateCandidates(fakeRunner, task, "dev", ["any"]);
      const [test] = await evaluateCandidates(fakeRunner, task, "test", ["any"]);
      expect([dev!.utility, test!.utility], scoring).toEqual([1, 0]);
    }
  });

  it("combines multitask components by harmonic mean", async () => {
    const other = writeDataset("other", { dev: [{ question: "1+1?", answer: "2" }, { question: "10-3?", answer: "7" }], test: [{ question: "1+1?", answer: "2" }] });
    const task = prepareTask({
      evalType: "multitask",
      params: { tasks: [{ evalType: "exact_match", dataset: arithmetic }, { evalType: "exact_match", dataset: other }] },
    });
    const [, poor] = await evaluateCandidates(fakeRunner, task, "dev", ["good", "poor"]);
    // poor: 1/3 on arith, 0 on other → harmonic mean 0.
    expect(poor!.utility).toBe(0);
    expect(poor!.metrics).toEqual({ "arith/accuracy": 1 / 3, "other/accuracy": 0 });
    // BWR_model's --only_one_or_two: one component's utility instead of the harmonic mean.
    for (const [only, expected] of [["one", 1 / 3], ["two", 0]] as const) {
      const [, poorAlone] = await evaluateCandidates(fakeRunner, prepareTask({ evalType: "multitask", params: { tasks: [{ evalType: "exact_match", dataset: arithmetic }, { evalType: "exact_match", dataset: other }] }, only }), "dev", ["good", "poor"]);
      expect(poorAlone!.utility).toBeCloseTo(expected);
    }
  });

  it("takes BWR_model's multitask domains by name, and names what it expected otherwise", () => {
    expect(() => prepareTask({ evalType: "multitask", dataset: "legal" })).toThrow(/data\/eval\/hearsay\.json/);
    expect(() => prepareTask({ evalType: "multitask", dataset: "medical" })).toThrow(/data\/eval\/medqa\.json/);
    expect(() => prepareTask({ evalType: "multitask", dataset: "sports" })).toThrow(`dataset: multitask without params.tasks takes one of BWR_model's domains (legal, medical, science, culture), got "sports"`);
    expect(() => prepareTask({ evalType: "exact_match", dataset: arithmetic, only: "one" })).toThrow("only_one_or_two: picks one component of a multitask, and exact_match has none");
  });
});

describe("bad input is named before any model work", () => {
  it.each([
    ["{not json", /bad\.json: not valid JSON/],
    [JSON.stringify({ dev: [{ question: "q", answer: "1" }] }), /bad\.json: missing split "test"/],
    [JSON.stringify({ dev: [], test: [{ question: "q", answer: "1" }] }), /bad\.json: split "dev" is empty/],
    [JSON.stringify({ dev: [{ qestion: "q", answer: "1" }], test: [{ question: "q", answer: "1" }] }), /bad\.json: dev\[0\]\.question: missing .*; the item has the fields "qestion", "answer"/],
  ])("%s", (content, message) => {
    const file = writeDataset("bad", content);
    expect(() => prepareTask({ evalType: "exact_match", dataset: file })).toThrow(DatasetError);
    expect(() => prepareTask({ evalType: "exact_match", dataset: file })).toThrow(message);
  });

  it("names a dataset that does not fit the eval type", () => {
    expect(() => prepareTask({ evalType: "multiple_choice", dataset: arithmetic })).toThrow(/arith\.json: dev\[0\]\.choices: /);
  });

  it("names bad parameters and unknown eval types", () => {
    expect(() => prepareTask({ evalType: "exact_match", dataset: arithmetic, params: { maxNewTokens: 0 } })).toThrow(EvalConfigError);
    expect(() => prepareTask({ evalType: "exact_match", dataset: arithmetic, params: { maxNewTokens: 0 } })).toThrow(/^params\.maxNewTokens: /);
    expect(() => prepareTask({ evalType: "exact_match", dataset: arithmetic, params: { promptTemplate: "no slot" } })).toThrow("params.promptTemplate: must contain {question}");
    expect(() => prepareTask({ evalType: "exact_match", dataset: arithmetic, params: { temperature: 1 } })).toThrow(/params: Unrecognized key: "temperature"/);
    expect(() => prepareTask({ evalType: "multiple_choice", dataset: arithmetic, params: { systemMessage: "Be brief." } })).toThrow('params.systemMessage: only a chat prompt has a system message: set promptFormat to "chat"');
    expect(() => prepareTask({ evalType: "exact_matsh", dataset: arithmetic })).toThrow(/unknown eval type "exact_matsh": expected one of exact_match, /);
    expect(() => prepareTask({ evalType: "multitask", params: { tasks: [{ evalType: "nope", dataset: arithmetic }, { evalType: "exact_match", dataset: arithmetic }] } })).toThrow(
      /params\.tasks\.0\.evalType: expected one of/,
    );
  });
});

describe("external_api", () => {
  let server: http.Server;
  let url = "";
  let calls = 0;
  beforeAll(async () => {
    server = http.createServer((request, response) => {
      let body = "";
      request.on("data", (chunk) => (body += chunk));
      request.on("end", () => {
        calls += 1;
        if (calls === 1) {
          response.writeHead(503).end("busy");
          return;
        }
        const { response: text } = JSON.parse(body) as { response: string };
        response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ score: text.includes("4") ? 0.9 : 0.1 }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/score`;
  });
  afterAll(() => server.close());

  it("retries a busy scorer and averages its scores", async () => {
    const task = prepareTask({ evalType: "external_api", dataset: arithmetic, params: { url, retries: 2 } });
    const [evaluation] = await evaluateCandidates(fakeRunner, task, "dev", ["poor"].map(() => "x"), { limit: 1 });
    expect(evaluation!.utility).toBeCloseTo(0.9);
    expect(calls).toBe(2);
  });

  it("gives up with one error naming the scorer", async () => {
    const task = prepareTask({ evalType: "external_api", dataset: arithmetic, params: { url: "http://127.0.0.1:1/score", retries: 1, timeoutMs: 500 } });
    await expect(evaluateCandidates(fakeRunner, task, "dev", ["x"], { limit: 1 })).rejects.toThrow(/external_api: http:\/\/127\.0\.0\.1:1\/score failed after 2 attempts/);
  });
});

describe("AbstainQA", () => {
  const choices = { A: "rabbit", B: "foot", C: "onion", D: "plum" };
  const questions = ["q1", "q2", "q3", "q4", "q5"];
  const quiz = writeDataset("abstain", { dev: questions.map((question) => ({ question, choices, answer: "C" })), test: [{ question: "q1", choices, answer: "C" }] });
  /** Candidate 0's answers and its verdicts on them: right/true, wrong/true, right/false, wrong/false, right/unreadable. */
  const first: Record<string, string> = { q1: "The answer is C", q2: "A", q3: "(C) onion", q4: "D", q5: "C" };
  const verdict: Record<string, string> = { q1: "A", q2: "(A) True", q3: "B", q4: "False, it is not.", q5: "maybe" };
  const asked: string[] = [];
  const runner: ModelRunner<string> = {
    async run(requests): Promise<ModelOutput[]> {
      return requests.map((request) => {
        if (request.kind !== "generate") throw new Error("AbstainQA generates");
        const question = /Q: (q\d)\n/.exec(request.prompt)![1]!;
        if (!request.prompt.includes("Proposed answer:")) return { kind: "generate", text: request.adapter === 0 ? first[question]! : "C", tokens: 2 };
        asked.push(`${request.adapter} ${/Proposed answer: (.*)\n/.exec(request.prompt)![1]}`);
        return { kind: "generate", text: request.adapter === 0 ? verdict[question]! : "B", tokens: 1 };
      });
    },
  };

  it("asks each candidate about its own answer and scores effective reliability", async () => {
    const task = prepareTask({ evalType: "AbstainQA", dataset: quiz });
    const [mixed, timid] = await evaluateCandidates(runner, task, "dev", ["mixed", "timid"]);
    // Answered: q1 right, q2 wrong, q5 right (an unreadable verdict answers); q3 and q4 abstained.
    expect(mixed!.results.map((result) => [result.correct, result.abstained])).toEqual([[true, false], [false, false], [false, true], [false, true], [true, false]]);
    expect(mixed!.utility).toBeCloseTo((2 - 1) / 5);
    expect(mixed!.metrics).toEqual({ effective_reliability: expect.closeTo(0.2), accuracy: expect.closeTo(0.4), abstain_rate: expect.closeTo(0.4), answered_accuracy: expect.closeTo(2 / 3) });
    expect(mixed!.results.map((result) => result.score)).toEqual([1, 0, 0.5, 0.5, 1]);
    expect(mixed!.tokens).toBe(15);
    // A candidate that abstains on everything is neither rewarded nor punished.
    expect(timid!.utility).toBe(0);
    expect(timid!.metrics.abstain_rate).toBe(1);
    expect(asked.filter((line) => line.startsWith("0 "))).toEqual(["0 (C) onion", "0 (A) rabbit", "0 (C) onion", "0 (D) plum", "0 (C) onion"]);
    expect(asked.filter((line) => line.startsWith("1 "))).toHaveLength(5);
  });

  it("names a reflection template without the proposed answer", () => {
    expect(() => prepareTask({ evalType: "AbstainQA", dataset: quiz, params: { reflectionTemplate: "Q: {question}\nA: " } })).toThrow(/params\.reflectionTemplate: expected a template with \{proposed\}/);
  });
});

describe("racing", () => {
  const eight = writeDataset("eight", { dev: Array.from({ length: 8 }, (_, i) => ({ question: `${i}+0?`, answer: String(i) })), test: [{ question: "1+1?", answer: "2" }] });
  /** Candidate 0 answers every question right, candidate 1 none; counts the questions each was asked. */
  const asked = [0, 0];
  const counting: ModelRunner<string> = {
    async run(requests) {
      return requests.map((request) => {
        asked[request.adapter]! += 1;
        const question = /Q: (\d+)\+0\?/.exec(request.kind === "generate" ? request.prompt : "")![1]!;
        return { kind: "generate" as const, text: request.adapter === 0 ? `The answer is ${question}` : "no idea", tokens: 2 };
      });
    },
  };

  it("stops asking a candidate once it cannot reach what it must, and evaluates the others as without racing", async () => {
    const task = prepareTask({ evalType: "exact_match", dataset: eight });
    const [full] = await evaluateCandidates(counting, task, "dev", ["right"]);
    asked.fill(0);
    const [right, wrong] = await evaluateCandidates(counting, task, "dev", ["right", "wrong"], { mustReach: [0.5, 0.5] });
    expect(right).toMatchObject({ utility: 1, results: full!.results });
    expect(right!.racedOut).toBeUndefined();
    // 0 of 2, 0 of 4: it could still reach 0.75, then 0.5; 0 of 6: at most 0.25 < 0.5, so the last 2 are not asked.
    expect(wrong).toMatchObject({ utility: 0.25, racedOut: { questions: 6, of: 8, bound: 0.25 } });
    expect(wrong!.results).toHaveLength(6);
    expect(asked).toEqual([8, 6]);
  });

  it("evaluates in full an eval type with no bound on its utility", async () => {
    const task = prepareTask({ evalType: "length_aware", dataset: eight });
    asked.fill(0);
    const [, wrong] = await evaluateCandidates(counting, task, "dev", ["right", "wrong"], { mustReach: [0.5, 0.5] });
    expect(wrong!.racedOut).toBeUndefined();
    expect(asked).toEqual([8, 8]);
  });

  it("races a utility where lower is better against its lowest reachable value", async () => {
    const task = prepareTask({ evalType: "exact_match", dataset: eight }) as Extract<PreparedTask, { kind: "single" }>;
    const wrongAnswers = (results: readonly QuestionResult[]) => results.filter((result) => !result.correct).length;
    // The error rate: lower is better; at best, every remaining question answered right.
    const errorRate: EvalType<unknown, unknown> = {
      ...task.evalType,
      metric: { name: "error_rate", higherIsBetter: false },
      utility: (results) => ({ utility: wrongAnswers(results) / results.length, metrics: {} }),
      bound: (results, total) => wrongAnswers(results) / total,
    };
    asked.fill(0);
    const [right, allWrong] = await evaluateCandidates(counting, { ...task, evalType: errorRate }, "dev", ["right", "wrong"], { mustReach: [0.5, 0.5] });
    expect(right).toMatchObject({ utility: 0 });
    expect(right!.racedOut).toBeUndefined();
    // 2 of 2 wrong: it could still reach 0.25; 4 of 4: at best 0.5, still enough; 6 of 6: at best 0.75 > 0.5.
    expect(allWrong).toMatchObject({ utility: 0.75, racedOut: { questions: 6, of: 8, bound: 0.75 } });
    expect(asked).toEqual([8, 6]);
  });
});
