import { describe, expect, it } from "vitest";
import type { CandidateEvaluation } from "../eval/evaluator";
import { runBwrSearch, type IterationRecord, type SearchSink, type VectorEvaluator } from "./bwr";
import { CliUsageError, parseSearchArgs } from "./cli-args";
import { ArrayPopulation } from "./population";
import { drawStream } from "./rng";

/*
 * BWR_model's --dropK and --dropN (its Figure 9): after the moves, an iteration is left unevaluated with probability
 * dropK, and each candidate with probability dropN; one left unevaluated keeps its last utility.
 */

const flags = (...extra: string[]) => parseSearchArgs(["-n", "drops", "-e", "exact_match", "-d", "gsm8k", "-m", "8", "-p", "50", ...extra]);

const evaluator: VectorEvaluator = {
  async evaluate(vectors): Promise<CandidateEvaluation[]> {
    return vectors.map((vector) => ({ utility: -vector.reduce((sum, value) => sum + value * value, 0), metrics: {}, results: [], tokens: 0, ms: 0 }));
  },
};

async function search(...extra: string[]) {
  const iterations: Array<{ record: IterationRecord; population: Float32Array[] }> = [];
  const lines: string[] = [];
  const sink: SearchSink = {
    iteration: async (record, population) => void iterations.push({ record, population: population.map((slot) => slot.slice()) }),
    test: async () => {},
    log: (line) => void lines.push(line),
    shouldStop: async () => false,
  };
  const population = new ArrayPopulation(Array.from({ length: 5 }, (_, index) => Float32Array.from({ length: 8 }, drawStream(3, index))));
  await runBwrSearch({ config: flags(...extra), population, evaluator, sink });
  return { iterations, lines };
}

describe("--dropK and --dropN, as BWR_model spells and means them", () => {
  it("are taken as spelled, as probabilities; anything else is refused naming the flag", () => {
    expect(flags("--dropK", "0.25", "--dropN", "0.5")).toMatchObject({ dropK: 0.25, dropN: 0.5 });
    expect(flags()).toMatchObject({ dropK: 0, dropN: 0 });
    expect(() => flags("--dropK", "1.5")).toThrow(CliUsageError);
    expect(() => flags("--dropK", "1.5")).toThrow(/^--dropK: /);
    expect(() => flags("--dropN", "-0.1")).toThrow(/^--dropN: /);
  });

  it("--dropK 1: every iteration moves its candidates but evaluates none, so every utility stays as it started", async () => {
    const { iterations, lines } = await search("--dropK", "1");
    expect(lines.filter((line) => line === "dropped iteration!")).toHaveLength(8);
    const start = iterations[0]!;
    for (const { record } of iterations.slice(1)) {
      expect(record.evaluations).toEqual([]);
      expect(record.state.scores).toEqual(start.record.state.scores);
    }
    expect(iterations.at(-1)!.population.slice(0, 5)).not.toEqual(start.population.slice(0, 5));
  });

  it("--dropN: a candidate left unevaluated keeps its last utility; the others are evaluated", async () => {
    const { iterations } = await search("--dropN", "0.5");
    let skipped = 0;
    for (let t = 1; t < iterations.length; t += 1) {
      const { record } = iterations[t]!;
      const evaluated = new Map(record.evaluations.map(({ candidate, evaluation }) => [candidate, evaluation.utility]));
      for (let candidate = 0; candidate < 5; candidate += 1) {
        const expected = evaluated.get(candidate) ?? iterations[t - 1]!.record.state.scores[candidate];
        if (!evaluated.has(candidate)) skipped += 1;
        expect(record.state.scores[candidate]).toBe(expected);
      }
    }
    expect(skipped).toBeGreaterThan(0);
    expect(skipped).toBeLessThan(8 * 5);
  });
});
