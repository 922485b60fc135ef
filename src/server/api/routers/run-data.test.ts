import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { questionAndGoldOf, utilityAxisOf } from "./run-data";

const devItems = (name: string) => (JSON.parse(fs.readFileSync(`tests/fixtures/math-datasets/${name}.json`, "utf8")) as { dev: Array<Record<string, unknown>> }).dev;

describe("questionAndGoldOf: the question and gold shown are the ones graded", () => {
  it.each([
    ["math", "What is the value of $\\frac{3}{4} + \\frac{1}{8}$?", "\\frac{7}{8}"],
    ["aime", "Find the remainder when $2^{10}$ is divided by $1000$.", "24"],
    ["olympiadbench", "Find all real $x$ such that $x^2 - 5x + 6 = 0$.", "2, 3"],
  ])("a %s item: its problem and final answer", (dataset, question, gold) => {
    expect(questionAndGoldOf(devItems(dataset)[0])).toEqual({ question, gold });
  });

  it("a GSM8K answer's gold is what follows ####; a scored text has no gold", () => {
    expect(questionAndGoldOf({ question: "2+2?", answer: "Two and two. #### 4" })).toEqual({ question: "2+2?", gold: "4" });
    expect(questionAndGoldOf({ text: "A page to score." })).toEqual({ question: "A page to score.", gold: null });
    expect(questionAndGoldOf(undefined)).toEqual({ question: null, gold: null });
  });
});

describe("utilityAxisOf", () => {
  it("fixes the axis for accuracies, and not for utilities that can leave 0–1", () => {
    expect(utilityAxisOf("exact_match", {})).toEqual({ metric: "accuracy", accuracy: true });
    expect(utilityAxisOf("exact_match_language", {})).toEqual({ metric: "acc_ja", accuracy: true });
    expect(utilityAxisOf("multiple_choice", {})).toEqual({ metric: "accuracy", accuracy: true });
    expect(utilityAxisOf("length_aware", {})).toEqual({ metric: "length_aware_utility", accuracy: false });
    expect(utilityAxisOf("external_api", {})).toEqual({ metric: "mean_score", accuracy: false });
    expect(utilityAxisOf("no_such_type", {})).toEqual({ metric: "utility", accuracy: false });
    expect(utilityAxisOf("perplexity", {})).toEqual({ metric: "perplexity (lower is better)", accuracy: false });
  });

  it("takes a multitask's harmonic mean as an accuracy only when every component is one", () => {
    const tasks = (...types: string[]) => ({ tasks: types.map((evalType) => ({ evalType, dataset: "d" })) });
    expect(utilityAxisOf("multitask", tasks("exact_match", "multiple_choice"))).toEqual({ metric: "harmonic mean", accuracy: true });
    expect(utilityAxisOf("multitask", tasks("exact_match", "length_aware"))).toEqual({ metric: "harmonic mean", accuracy: false });
  });
});
