import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { evaluateCandidates, prepareTask, type ModelRunner } from "./evaluator";
import { judge, JudgeError, parseRating, type JudgeParams } from "./judge";
import { getEvalType } from "./registry";

describe("parseRating", () => {
  it.each([
    ["Rating: 7/10", 0.7],
    ["Good answer. Rating: [[8]]/10", 0.8],
    ["rating : 6.5 / 10", 0.65],
    ["Rating: 3/10 at first, but on reflection Rating: 9/10", 0.9],
    ["Rating: 10/10", 1],
    ["Rating: 0/10", 0],
    ["Rating: 11/10", undefined],
    ["I would give it a 7.", undefined],
    ["Rating: seven/10", undefined],
  ])("%j → %s", (reply, rating) => expect(parseRating(reply)).toBe(rating));
});

/** A loopback OpenAI-compatible judge: each request's reply is chosen by the response being judged. */
let server: http.Server;
let base = "";
const seen: Array<{ content: string; authorization?: string }> = [];
let inFlight = 0;
let maxInFlight = 0;
const attempts = new Map<string, number>();

function behaviour(response: string, attempt: number): { delayMs?: number; status?: number; content?: string } {
  if (response.startsWith("slow")) return attempt === 1 ? { delayMs: 400, content: "Rating: 9/10" } : { content: "Rating: 6/10" };
  if (response.startsWith("busy")) return attempt <= 2 ? { status: 503 } : { content: "Rating: 5/10" };
  if (response.startsWith("refused")) return { status: 400, content: "bad model" };
  if (response.startsWith("rambling")) return { content: "I quite like it." };
  const score = /score (\d+)/.exec(response)?.[1] ?? "7";
  return { delayMs: 20, content: `Fine. Rating: ${score}/10` };
}

beforeAll(async () => {
  server = http.createServer((request, reply) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", async () => {
      const { messages } = JSON.parse(body) as { messages: Array<{ content: string }> };
      const content = messages[0]!.content;
      seen.push({ content, authorization: request.headers.authorization });
      const response = /\[Response\]\n([\s\S]*)$/.exec(content)?.[1] ?? "";
      const attempt = (attempts.get(response) ?? 0) + 1;
      attempts.set(response, attempt);
      const { delayMs = 0, status = 200, content: answer } = behaviour(response, attempt);
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      inFlight -= 1;
      if (reply.destroyed) return;
      if (status !== 200) return void reply.writeHead(status).end(answer ?? "");
      reply.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ choices: [{ message: { role: "assistant", content: answer } }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
});
afterAll(() => server.close());
beforeEach(() => {
  seen.length = 0;
  maxInFlight = 0;
});

let unique = 0;
const params = (overrides: Partial<JudgeParams> = {}): JudgeParams =>
  getEvalType("human").paramsSchema.parse({ url: base, model: `judge-${(unique += 1)}`, retries: 2, timeoutMs: 250, ...overrides }) as JudgeParams;

describe("the LLM judge", () => {
  it("asks with BWR_model's rating prompt and reads the rating as a fraction", async () => {
    expect(await judge(params(), "Name a colour.", "Blue, score 8")).toBe(0.8);
    expect(seen[0]!.content).toContain("[Instruction]\nName a colour.\n\n[Response]\nBlue, score 8");
    expect(seen[0]!.content).toContain('"Rating: x/10"');
  });

  it("asks again after a timeout and after 5xx, with backoff", async () => {
    expect(await judge(params(), "q", "slow one")).toBe(0.6);
    expect(await judge(params(), "q", "busy one")).toBe(0.5);
    expect(attempts.get("busy one")).toBe(3);
  });

  it("fails with one error naming the judge: a refusal at once, a reply without a rating after every retry", async () => {
    await expect(judge(params(), "q", "refused")).rejects.toThrow(/^human: http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions answered HTTP 400: bad model$/);
    const p = params();
    await expect(judge(p, "q", "rambling on")).rejects.toThrow(new JudgeError(`human: the judge ${p.model} at ${base}/chat/completions failed after 3 attempts: a reply without "Rating: x/10": "I quite like it."`));
    expect(attempts.get("rambling on")).toBe(3);
  });

  it("judges a (question, response) once, and keeps at most `concurrency` judgements in flight", async () => {
    const p = params({ concurrency: 2 });
    const ratings = await Promise.all(Array.from({ length: 8 }, (_, i) => judge(p, "q", `answer ${i}, score ${i + 1}`)));
    expect(ratings).toEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
    expect(maxInFlight).toBe(2);
    expect(seen).toHaveLength(8);
    expect(await judge(p, "q", "answer 3, score 4")).toBe(0.4);
    expect(seen).toHaveLength(8);
  });

  it("sends the key from the environment variable it is named by, and refuses an unset one", async () => {
    process.env.JUDGE_TEST_KEY = "sk-test";
    await judge(params({ apiKeyEnv: "JUDGE_TEST_KEY" }), "q", "keyed, score 7");
    expect(seen.at(-1)!.authorization).toBe("Bearer sk-test");
    delete process.env.JUDGE_TEST_KEY;
    await expect(judge(params({ apiKeyEnv: "JUDGE_TEST_KEY" }), "q", "unkeyed")).rejects.toThrow("human: apiKeyEnv names JUDGE_TEST_KEY, which is not set in the environment");
  });

  it("is the utility of eval type human: the mean rating / 10, with a failed judgement failing the evaluation", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "judge-"));
    const dataset = path.join(dir, "human.json");
    fs.writeFileSync(dataset, JSON.stringify({ dev: [{ prompt: "a" }, { prompt: "b" }], test: [{ prompt: "c" }] }));
    const runner: ModelRunner<string> = {
      run: async (requests) => requests.map((request) => ({ kind: "generate" as const, text: request.adapter === 0 ? `${request.kind === "generate" ? request.prompt : ""} score ${request.kind === "generate" && request.prompt.includes("a") ? 9 : 5}` : "rambling", tokens: 3 })),
    };
    const task = prepareTask({ evalType: "human", dataset, params: { url: base, model: "judge-eval", retries: 0, promptTemplate: "{question}" } });
    const [good] = await evaluateCandidates(runner, task, "dev", ["good"]);
    expect(good!.utility).toBeCloseTo(0.7);
    expect(good!.results.map((result) => [result.answer, result.correct])).toEqual([["9/10", true], ["5/10", false]]);
    await expect(evaluateCandidates(runner, task, "dev", ["good", "rambling"])).rejects.toThrow(JudgeError);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
