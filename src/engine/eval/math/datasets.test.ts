import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { evaluateCandidates, prepareTask, type ModelRunner } from "../evaluator";
import { evalTypeForms } from "../../search/form-spec";
import type { ModelOutput } from "../types";

/** One small file per published competition-math shape, items written in that shape. */
const FIXTURES = path.resolve(import.meta.dirname, "../../../../tests/fixtures/math-datasets");
const fixture = (name: string) => path.join(FIXTURES, `${name}.json`);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "math-datasets-test-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
function writeDataset(dev: unknown[]): string {
  const file = path.join(dir, `${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify({ dev, test: dev }));
  return file;
}

type Item = { question: string; answer: string };

function symbolicTask(dataset: string) {
  const task = prepareTask({ evalType: "exact_match", dataset, params: { match: "symbolic" } });
  if (task.kind !== "single") throw new Error("expected one task");
  return { task, dev: task.dataset.dev as Item[], test: task.dataset.test as Item[] };
}

/** Answers each prompt from `answers`, keyed by the question in it, as a worked solution ending in \boxed{}. */
const runnerAnswering = (answers: Map<string, string>): ModelRunner<string> => ({
  run: async (requests) =>
    requests.map((request): ModelOutput => {
      const prompt = request.kind === "generate" ? request.prompt : request.context;
      const question = [...answers.keys()].find((key) => prompt.includes(key));
      return { kind: "generate", text: `Working it out, we get $\\boxed{${question === undefined ? "?" : answers.get(question)}}$.`, tokens: 5 };
    }),
});

describe("competition-math dataset shapes", () => {
  it.each([
    ["math", ["\\frac{7}{8}", "x^2+2x+1", "(2, \\infty)"], ["3, -3", "\\begin{pmatrix} 2 \\\\ 5 \\end{pmatrix}"]],
    ["math500", ["\\left( 3, \\frac{\\pi}{2} \\right)", "3\\sqrt{2}", "25\\%"], ["y = 2x + 1", "120^\\circ"]],
    ["aime", ["24", "30", "400"], ["25", "316"]],
    ["minerva_math", ["75", "1.5", "3"], ["3x^2", "0"]],
    ["olympiadbench", ["2, 3", "55", "1"], ["(3,2)", "\\sqrt{2}"]],
    ["college_math", ["1", "3", "$x = 3$"], ["1", "\\{1, 4\\}"]],
  ])("%s: read as questions and final answers", (name, devAnswers, testAnswers) => {
    const { dev, test } = symbolicTask(fixture(name));
    expect(dev.map((item) => item.answer)).toEqual(devAnswers);
    expect(test.map((item) => item.answer)).toEqual(testAnswers);
    for (const item of [...dev, ...test]) expect(item.question).toMatch(/\S/);
  });

  it.each([
    ["math", ["0.875", "(x+1)^2", "\\left(2,\\infty\\right)"]],
    ["math500", ["(3, \\frac{1}{2}\\pi)", "\\sqrt{18}", "25"]],
    ["olympiadbench", ["3, 2", "55", "\\sin^2 x + \\cos^2 x"]],
    ["college_math", ["1.0", "3", "3"]],
  ])("%s: answers written otherwise but equal all count with symbolic grading", async (name, equivalents) => {
    const { task, dev } = symbolicTask(fixture(name));
    const answers = new Map(dev.map((item, index) => [item.question, equivalents[index]!]));
    const [evaluation] = await evaluateCandidates(runnerAnswering(answers), task, "dev", ["any"]);
    expect(evaluation!.utility).toBe(1);
  });

  it("numeric grading, the default, reads the same file but sees none of those answers as equal", async () => {
    const task = prepareTask({ evalType: "exact_match", dataset: fixture("math") });
    if (task.kind !== "single") throw new Error("expected one task");
    expect(task.params).toMatchObject({ match: "numeric" });
    const answers = new Map((task.dataset.dev as Item[]).map((item, index) => [item.question, ["0.875", "(x+1)^2", "\\left(2,\\infty\\right)"][index]!]));
    const [evaluation] = await evaluateCandidates(runnerAnswering(answers), task, "dev", ["any"]);
    expect(evaluation!.utility).toBe(0);
  });

  it("a wrong answer is wrong with symbolic grading", async () => {
    const { task, dev } = symbolicTask(fixture("math"));
    const answers = new Map(dev.map((item) => [item.question, "\\frac{8}{7}"]));
    const [evaluation] = await evaluateCandidates(runnerAnswering(answers), task, "dev", ["any"]);
    expect(evaluation!.utility).toBe(0);
  });
});

describe("a competition-math file that cannot be used: one error naming the field", () => {
  it.each([
    ["a MATH solution without \\boxed{}", [{ problem: "1+1?", solution: "It is 2.", level: "Level 1", type: "Algebra" }], /dev\[0\]\.solution: expected a worked solution whose final answer is in \\boxed\{…\}/],
    ["an OlympiadBench item with no final answer", [{ question: "1+1?", final_answer: [], solution: ["2"] }], /dev\[0\]\.final_answer: expected a list of final answers/],
    ["an AIME item without its answer", [{ id: 1, Problem: "1+1?" }], /dev\[0\]\.answer: missing .*the item has the fields "id", "Problem"/],
    ["an item without a problem", [{ answer: "2", solution: "\\boxed{2}" }], /dev\[0\]\.question: missing .*the item has the fields "answer", "solution"/],
  ])("%s", (_, items, message) => {
    const file = writeDataset(items);
    let error: Error | undefined;
    try {
      prepareTask({ evalType: "exact_match", dataset: file, params: { match: "symbolic" } });
    } catch (thrown) {
      error = thrown as Error;
    }
    expect(error?.message).toMatch(message);
    // One error, not one per field the shape derives.
    expect(error?.message.match(/dev\[/g)).toHaveLength(1);
  });

  it("a grading option the eval type does not have names the field and the choices", () => {
    expect(() => prepareTask({ evalType: "exact_match", dataset: fixture("math"), params: { match: "sympy" } })).toThrow(/match.*"numeric".*"symbolic"/);
  });

  it("the dashboard's form offers the grading option on every exact-match eval type, numeric by default", () => {
    for (const name of ["exact_match", "exact_match_language", "length_aware"]) {
      const form = evalTypeForms().find((type) => type.name === name)!;
      expect(form.params.find((spec) => spec.key === "match")).toMatchObject({ kind: "enum", options: ["numeric", "symbolic"], defaultText: "numeric" });
    }
  });
});
