import { describe, expect, it } from "vitest";
import { bestSoFar, curveBand, iterationsWithinBudget, quantile, resultsTable, spreadOf, summarize, type RunResult } from "./search-stats";

describe("spread over seeds", () => {
  it("takes numpy's linear-interpolation quantiles, whatever the order of the values", () => {
    expect(quantile([5, 1, 3, 2, 4], 0.5)).toBe(3);
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4], 0.25)).toBe(1.75);
    expect(quantile([1, 2, 3, 4], 0.75)).toBe(3.25);
    expect(spreadOf([0.3, 0.1, 0.6, 0.2, 0.5])).toEqual({ median: 0.3, min: 0.1, max: 0.6, q1: 0.2, q3: 0.5 });
  });

  it("summarizes dev, test and their gap per optimizer and objective", () => {
    const run = (optimizer: string, objective: string, dev: number, test: number, evaluations = 200): RunResult => ({
      optimizer, objective, seed: 1, dev, test, evaluations, budget: 200, wallMs: 1000 * evaluations, curve: [dev],
    });
    const [bwr, random] = summarize([run("bwr", "ja", 0.6, 0.5), run("random", "ja", 0.3, 0.3), run("bwr", "ja", 0.4, 0.45, 120), run("bwr", "ja", 0.5, 0.4, 160)]);
    expect(bwr).toMatchObject({ optimizer: "bwr", objective: "ja", runs: 3 });
    expect(bwr!.dev).toMatchObject({ median: 0.5, min: 0.4, max: 0.6 });
    expect(bwr!.test).toMatchObject({ median: 0.45, min: 0.4, max: 0.5 });
    expect(bwr!.gap.median).toBeCloseTo(0.1);
    expect(bwr!.gap.min).toBeCloseTo(-0.05);
    expect(bwr!.evaluations).toMatchObject({ median: 160, min: 120, max: 200 });
    expect(bwr!.wallSeconds.median).toBe(160);
    expect(random).toMatchObject({ optimizer: "random", runs: 1 });
  });

  it("writes one table row per pair, utilities in percent, the evaluations' range when seeds differ", () => {
    const summaries = summarize([
      { optimizer: "bwr", objective: "ja", seed: 1, dev: 0.6, test: 0.55, evaluations: 200, budget: 200, wallMs: 61_000, curve: [] },
      { optimizer: "bwr", objective: "ja", seed: 2, dev: 0.4, test: 0.35, evaluations: 96, budget: 200, wallMs: 30_000, curve: [] },
    ]);
    const table = resultsTable(summaries, { optimizer: (id) => id.toUpperCase(), objective: (id) => `task ${id}` });
    expect(table.split("\n")).toHaveLength(3);
    expect(table).toContain("| task ja | BWR | 2 | 50.0 (40.0–60.0; IQR 45.0–55.0) | 45.0 (35.0–55.0; IQR 40.0–50.0) | 5.0 (5.0–5.0) | 148 (96–200) | 46 |");
  });
});

describe("equal evaluation budgets", () => {
  it("runs only whole iterations: a population that does not divide the budget stops below it", () => {
    expect(iterationsWithinBudget(200, { initial: 8, perIteration: 8 })).toEqual({ maxIteration: 24, evaluations: 200 });
    expect(iterationsWithinBudget(200, { initial: 7, perIteration: 7 })).toEqual({ maxIteration: 27, evaluations: 196 });
    expect(iterationsWithinBudget(40, { initial: 8, perIteration: 10 })).toEqual({ maxIteration: 3, evaluations: 38 });
  });

  it("refuses a budget without room for one iteration, naming the flag", () => {
    expect(() => iterationsWithinBudget(15, { initial: 8, perIteration: 8 })).toThrow("--evaluations: expected at least 16 (a first generation of 8 and one iteration of 8), got 15");
  });
});

describe("best-so-far curves", () => {
  it("is the running maximum of the dev utilities in evaluation order", () => {
    expect(bestSoFar([0.1, 0.3, 0.2, 0.3, 0.5, 0.4])).toEqual([0.1, 0.3, 0.3, 0.3, 0.5, 0.5]);
  });

  it("bands seeds by median, min and max, a run stopped early holding its final best", () => {
    const band = curveBand([
      [0.1, 0.2, 0.6],
      [0.3, 0.3],
      [0.2, 0.4, 0.5],
    ]);
    expect(band.median).toEqual([0.2, 0.3, 0.5]);
    expect(band.low).toEqual([0.1, 0.2, 0.3]);
    expect(band.high).toEqual([0.3, 0.4, 0.6]);
  });
});
