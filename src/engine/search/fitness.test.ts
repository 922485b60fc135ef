import { describe, expect, it } from "vitest";
import type { CandidateEvaluation } from "../eval/evaluator";
import { runBwrSearch, type SearchState, type VectorEvaluator } from "./bwr";
import { searchConfigSchema, type SearchConfigInput } from "./config";
import { ArrayPopulation } from "./population";
import { MemorySink } from "../../../tests/support/memory-sink";
import { drawStream } from "./rng";

const target = Float32Array.from({ length: 12 }, (_, k) => Math.cos(k));
const error = (vector: Float32Array) => vector.reduce((sum, value, k) => sum + (value - target[k]!) ** 2, 0) / vector.length;

/** A utility where lower is better (as perplexity): the distance to a hidden target; or its negative, to be maximised. */
function evaluatorOf(sign: 1 | -1): VectorEvaluator & { asked: Array<readonly number[] | undefined> } {
  const asked: Array<readonly number[] | undefined> = [];
  return {
    asked,
    async evaluate(vectors, split, options): Promise<CandidateEvaluation[]> {
      asked.push(options?.mustReach);
      return vectors.map((vector) => ({ utility: sign * (1 + error(vector) + (split === "test" ? 0.01 : 0)), metrics: {}, results: [], tokens: 0, ms: 0 }));
    },
  };
}

function experts(count: number): Float32Array[] {
  return Array.from({ length: count }, (_, index) => {
    const draw = drawStream(5, index);
    return Float32Array.from({ length: 12 }, () => draw() * 2 - 1);
  });
}


/** perplexity's utility is minimised; exact_match's (here the same distance, negated) maximised. */
async function search(evalType: "perplexity" | "exact_match", overrides: Partial<SearchConfigInput> = {}, options: { stopAfter?: number; resume?: { state: SearchState; population: Float32Array[] } } = {}) {
  const config = searchConfigSchema.parse({ name: "toy", evalType, dataset: "toy", maxIteration: 12, patience: 50, topKTest: 3, ...overrides });
  const sink = new MemorySink(options.stopAfter);
  const population = new ArrayPopulation(experts(6));
  if (options.resume) await population.restore(options.resume.population);
  const evaluator = evaluatorOf(evalType === "perplexity" ? 1 : -1);
  const result = await runBwrSearch({ config, population, evaluator, sink, resume: options.resume?.state });
  return { sink, result, evaluator };
}

const negated = (state: SearchState) => ({
  ...state,
  scores: state.scores.map((x) => -x),
  histories: state.histories.map((history) => history.map((x) => -x)),
  best: -state.best,
  worst: -state.worst,
  bestHistory: state.bestHistory.map((x) => -x),
  worstHistory: state.worstHistory.map((x) => -x),
  startingBest: { ...state.startingBest, utility: -state.startingBest.utility },
});

describe("a search on a utility where lower is better", () => {
  it("finds the minimum: the same moves as maximising its negative, with every recorded value the true utility", async () => {
    for (const overrides of [{}, { selection: "greedy" as const }, { optimizer: "cmaes" as const, mode: "recipe" as const, recipeBounds: [-1.5, 1.5] as [number, number] }]) {
      const lower = await search("perplexity", overrides);
      const higher = await search("exact_match", overrides);
      expect(lower.sink.iterations.map(({ population }) => population)).toEqual(higher.sink.iterations.map(({ population }) => population));
      expect(lower.result.state).toEqual(negated(higher.result.state));
      const { state } = lower.result;
      expect(state.best).toBeLessThan(state.startingBest.utility);
      // The stored global best is the lowest utility ever recorded, the global worst the highest.
      const recorded = lower.sink.iterations.flatMap(({ record }) => record.evaluations.map(({ evaluation }) => evaluation.utility));
      expect(state.best).toBe(Math.min(...recorded));
      expect(state.worst).toBe(Math.max(...recorded));
      for (const { record } of lower.sink.iterations) expect(record.state.best).toBe(Math.min(...record.state.bestHistory));
      for (let t = 1; t < state.bestHistory.length; t += 1) expect(state.bestHistory[t]).toBeLessThanOrEqual(state.bestHistory[t - 1]!);
      // The archived best and worst are the vectors of those utilities.
      const last = lower.sink.iterations.at(-1)!.population;
      expect(1 + error(last[6]!)).toBeCloseTo(state.best, 6);
      expect(1 + error(last[7]!)).toBeCloseTo(state.worst, 6);
      // Tests: the ending best and the next-lowest candidates, with their true (test) utilities.
      const [ending, ...topK] = lower.sink.tests.filter((test) => test.role !== "starting_best");
      expect(ending!.evaluation.utility).toBeCloseTo(state.best + 0.01, 6);
      const ranked = [...state.scores].sort((a, b) => a - b);
      expect(topK.map((test) => test.evaluation.utility - 0.01).sort((a, b) => a - b)).toEqual(ranked.slice(0, 2).map((x) => expect.closeTo(x, 6)));
      expect(lower.sink.lines.find((line) => line.startsWith("new best model:"))).toMatch(/^new best model: [0-9]/);
    }
  });

  it("greedy selection never lets a candidate's utility rise", async () => {
    const { result } = await search("perplexity", { selection: "greedy", restartStrayCandidates: 0 });
    for (const history of result.state.histories) {
      for (let t = 1; t < history.length; t += 1) expect(history[t]).toBeLessThanOrEqual(history[t - 1]!);
    }
  });

  it("races with utilities: each move must reach its candidate's own (lower) utility", async () => {
    const { evaluator, sink } = await search("perplexity", { selection: "greedy", racing: 1, maxIteration: 2 });
    const scoresBefore = sink.iterations[0]!.record.state.scores;
    expect(evaluator.asked.find((mustReach) => mustReach !== undefined)).toEqual(scoresBefore);
  });

  it("resumed from its recorded (utility) state, ends exactly where an uninterrupted search ends", async () => {
    const whole = await search("perplexity");
    const interrupted = await search("perplexity", {}, { stopAfter: 5 });
    const last = interrupted.sink.iterations.at(-1)!;
    const resumed = await search("perplexity", {}, { resume: { state: last.record.state, population: last.population } });
    expect(resumed.result.state).toEqual(whole.result.state);
  });
});
