import { describe, expect, it } from "vitest";
import type { Split } from "../eval/datasets";
import type { CandidateEvaluation } from "../eval/evaluator";
import { EvaluationError, runBwrSearch, populate, type SearchState, type VectorEvaluator } from "./bwr";
import { searchConfigSchema, type SearchConfigInput } from "./config";
import { ArrayPopulation } from "./population";
import { MemorySink } from "../../../tests/support/memory-sink";
import { drawStream } from "./rng";

const target = Float32Array.from({ length: 16 }, (_, k) => Math.sin(k));

/** Utility: closeness to a hidden target, on dev; test is the same objective, shifted. */
const toyEvaluator: VectorEvaluator = {
  async evaluate(vectors, split: Split): Promise<CandidateEvaluation[]> {
    return vectors.map((vector) => {
      const error = vector.reduce((sum, value, k) => sum + (value - target[k]!) ** 2, 0) / vector.length;
      const utility = 1 / (1 + error) - (split === "test" ? 0.01 : 0);
      return { utility, metrics: {}, results: [], tokens: 0, ms: 0 };
    });
  },
};

function experts(count: number, seed = 7): Float32Array[] {
  return Array.from({ length: count }, (_, index) => {
    const draw = drawStream(seed, index);
    return Float32Array.from({ length: 16 }, () => draw() * 2 - 1);
  });
}

function config(overrides: Partial<SearchConfigInput> = {}) {
  return searchConfigSchema.parse({ name: "toy", evalType: "exact_match", dataset: "toy", maxIteration: 15, patience: 50, ...overrides });
}


async function search(overrides: Partial<SearchConfigInput> = {}, stopAfter?: number) {
  const sink = new MemorySink(stopAfter);
  const population = new ArrayPopulation(experts(6));
  const result = await runBwrSearch({ config: config(overrides), population, evaluator: toyEvaluator, sink });
  return { sink, result, population };
}

describe("runBwrSearch", () => {
  it("moves the global best up and records every iteration", async () => {
    const { sink, result } = await search({ maxIteration: 30, stepLength: 0.5 });
    expect(result.stopped).toBe("max_iteration");
    expect(sink.iterations.map(({ record }) => record.index)).toEqual([...Array(31).keys()]);
    expect(result.state.best).toBeGreaterThan(result.state.startingBest.utility);
    expect(result.state.bestHistory).toHaveLength(31);
    for (let t = 1; t < result.state.bestHistory.length; t += 1) expect(result.state.bestHistory[t]).toBeGreaterThanOrEqual(result.state.bestHistory[t - 1]!);
    expect(sink.tests.map((test) => test.role)).toEqual(["starting_best", "ending_best"]);
    // The archived best is the vector that scored the best utility.
    const [archived] = await toyEvaluator.evaluate([sink.iterations.at(-1)!.population[6]!], "dev");
    expect(archived!.utility).toBeCloseTo(result.state.best, 6);
  });

  it("repeats bit for bit with the same seed and differs with another", async () => {
    const a = await search({ seed: 3 });
    const b = await search({ seed: 3 });
    const c = await search({ seed: 4 });
    expect(b.result.state).toEqual(a.result.state);
    expect(b.sink.iterations.at(-1)!.population).toEqual(a.sink.iterations.at(-1)!.population);
    expect(c.result.state.scores).not.toEqual(a.result.state.scores);
  });

  it("resumed after an interruption ends exactly where an uninterrupted run ends", async () => {
    const whole = await search({ seed: 11 });
    const interrupted = await search({ seed: 11 }, 6);
    expect(interrupted.result.stopped).toBe("requested");
    const last = interrupted.sink.iterations.at(-1)!;
    const population = new ArrayPopulation(experts(6));
    await population.restore(last.population);
    const sink = new MemorySink();
    const resumed = await runBwrSearch({ config: config({ seed: 11 }), population, evaluator: toyEvaluator, sink, resume: last.record.state as SearchState });
    expect(resumed.state).toEqual(whole.result.state);
    expect(sink.iterations.at(-1)!.population).toEqual(whole.sink.iterations.at(-1)!.population);
  });

  it("greedy selection never lets a candidate's utility fall", async () => {
    const { result } = await search({ selection: "greedy", restartStrayCandidates: 0 });
    for (const history of result.state.histories) {
      for (let t = 1; t < history.length; t += 1) expect(history[t]).toBeGreaterThanOrEqual(history[t - 1]!);
    }
  });

  it("stops when the best has not moved for `patience` iterations", async () => {
    const { result, sink } = await search({ patience: 2, maxIteration: 200, updateProbability: 0 });
    expect(result.stopped).toBe("patience");
    expect(sink.lines).toContain("patience reached!");
  });

  it("measures every starting candidate and the top-k on test when asked", async () => {
    const { sink } = await search({ startingTestSetEval: 1, topKTest: 3, maxIteration: 2 });
    expect(sink.tests.filter((test) => test.role === "starting" || test.role === "starting_best")).toHaveLength(6);
    expect(sink.tests.filter((test) => test.role === "top_k")).toHaveLength(2);
  });
});

describe("runBwrSearch with --optimizer cmaes", () => {
  const cmaes = (overrides: Partial<SearchConfigInput> = {}) => ({ optimizer: "cmaes" as const, recipeBounds: [-1.5, 1.5] as [number, number], maxIteration: 25, ...overrides });

  it("samples one generation per iteration inside --recipe_bounds and moves the best up", async () => {
    const { sink, result } = await search(cmaes());
    expect(result.stopped).toBe("max_iteration");
    expect(sink.iterations.map(({ record }) => record.evaluations.length)).toEqual(new Array(26).fill(6));
    for (const { population } of sink.iterations.slice(1)) for (const slot of population.slice(0, 6)) for (const value of slot) expect(Math.abs(value)).toBeLessThanOrEqual(1.5);
    expect(result.state.cmaes!.generation).toBe(25);
    expect(result.state.stepLength).toBe(result.state.cmaes!.sigma);
    expect(sink.iterations[0]!.record.state.stepLength).toBe(0.75);
    expect(result.state.best).toBeGreaterThan(result.state.startingBest.utility + 0.05);
    const [archived] = await toyEvaluator.evaluate([sink.iterations.at(-1)!.population[6]!], "dev");
    expect(archived!.utility).toBeCloseTo(result.state.best, 6);
  });

  it("starts at the centre of the starting population with --cmaes_sigma0", async () => {
    const { sink } = await search(cmaes({ cmaesSigma0: 0.2, maxIteration: 1 }));
    const start = experts(6);
    const { cmaes: distribution } = sink.iterations[0]!.record.state;
    expect(distribution!.sigma).toBe(0.2);
    distribution!.mean.forEach((m, k) => expect(m).toBeCloseTo(start.reduce((sum, vector) => sum + vector[k]!, 0) / 6, 6));
  });

  it("resumed from its JSON state after an interruption ends exactly where an uninterrupted run ends", async () => {
    const whole = await search(cmaes({ seed: 5 }));
    const interrupted = await search(cmaes({ seed: 5 }), 9);
    expect(interrupted.result.stopped).toBe("requested");
    const last = interrupted.sink.iterations.at(-1)!;
    const population = new ArrayPopulation(experts(6));
    await population.restore(last.population);
    const sink = new MemorySink();
    const resume = JSON.parse(JSON.stringify(last.record.state)) as SearchState;
    const resumed = await runBwrSearch({ config: config(cmaes({ seed: 5 })), population, evaluator: toyEvaluator, sink, resume });
    expect(resumed.state).toEqual(whole.result.state);
    expect(sink.iterations.at(-1)!.population).toEqual(whole.sink.iterations.at(-1)!.population);
    const other = await search(cmaes({ seed: 6 }));
    expect(other.result.state.scores).not.toEqual(whole.result.state.scores);
  });

  it("keeps a candidate that --dropN left unevaluated in its slot, with its score", async () => {
    const { sink } = await search(cmaes({ dropN: 0.5, maxIteration: 6 }));
    for (let t = 1; t < sink.iterations.length; t += 1) {
      const { record, population } = sink.iterations[t]!;
      const evaluated = new Set(record.evaluations.map(({ candidate }) => candidate));
      for (let candidate = 0; candidate < 6; candidate += 1) {
        if (evaluated.has(candidate)) continue;
        expect(population[candidate]).toEqual(sink.iterations[t - 1]!.population[candidate]);
        expect(record.state.scores[candidate]).toBe(sink.iterations[t - 1]!.record.state.scores[candidate]);
      }
    }
    expect(sink.iterations.some(({ record }) => record.evaluations.length < 6)).toBe(true);
  });

  it("refuses to resume from a state that holds no CMA-ES distribution", async () => {
    const bwr = await search({ maxIteration: 2 });
    const population = new ArrayPopulation(experts(6));
    await population.restore(bwr.sink.iterations.at(-1)!.population);
    const resumed = runBwrSearch({ config: config(cmaes()), population, evaluator: toyEvaluator, sink: new MemorySink(), resume: bwr.result.state });
    await expect(resumed).rejects.toThrow("the state after iteration 2 holds no CMA-ES distribution: it was not written by a search with --optimizer cmaes");
  });
});

describe("population moves", () => {
  it("BWR update, reset and crossover follow the formulas", async () => {
    const [a, b, c] = [Float32Array.of(1, 2), Float32Array.of(3, -1), Float32Array.of(0.5, 0.25)];
    const population = new ArrayPopulation([a, b, c]);
    await population.copy(population.bestSlot, 1);
    await population.copy(population.worstSlot, 2);
    await population.bwrUpdate(0, 2, { r1: 0.3, r2: 0.6, T: 2, step: 0.5 });
    const expected = [0, 1].map((k) => a[k]! + 0.5 * (0.3 * (b[k]! - 2 * c[k]!) - 0.6 * (c[k]! - c[k]!)));
    expect(Array.from(await population.read(0))).toEqual(expected.map(Math.fround));
    await population.resetScaled(1, 2, 0.5);
    expect(Array.from(await population.read(1))).toEqual([0.25, 0.125]);
    await population.crossover(2, 0, 1, 1.5);
    const x = await population.read(0);
    expect(Array.from(await population.read(2))).toEqual([1.5 * x[0]! - 0.5 * 0.25, 1.5 * x[1]! - 0.5 * 0.125].map(Math.fround));
  });

  it("bounds reset stays within each segment's population range", async () => {
    const population = new ArrayPopulation([Float32Array.of(0, 10, -5), Float32Array.of(1, 20, -4)], [0, 1, 3]);
    await population.resetWithinBounds(0, 99);
    const [first, second, third] = await population.read(0);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(first).toBeLessThanOrEqual(1);
    for (const value of [second!, third!]) {
      expect(value).toBeGreaterThanOrEqual(-5);
      expect(value).toBeLessThanOrEqual(20);
    }
  });

  it("populate adds crossover children of distinct experts", async () => {
    const base = experts(3);
    const population = new ArrayPopulation([...base, new Float32Array(16), new Float32Array(16)]);
    await populate(population, 3, 5);
    for (const child of [3, 4]) expect(Array.from(await population.read(child)).some((value) => value !== 0)).toBe(true);
  });
});

describe("a failed evaluation", () => {
  it("stops the search with one line saying what was evaluated and why, the evaluator's error kept as its cause", async () => {
    const native = new Error("Non-zero status code returned while running Gather node.\n  at backend.ts:130");
    let calls = 0;
    const failing: VectorEvaluator = {
      async evaluate(vectors, split) {
        calls += 1;
        if (calls === 3) throw native; // iteration 0 on dev, the starting best on test, then iteration 1
        return toyEvaluator.evaluate(vectors, split);
      },
    };
    const search = runBwrSearch({ config: config(), population: new ArrayPopulation(experts(6)), evaluator: failing, sink: new MemorySink() });
    const error = await search.then(() => undefined, (failure: unknown) => failure);
    expect(error).toBeInstanceOf(EvaluationError);
    expect((error as Error).message).toBe(
      "iteration 1: evaluating 6 candidates on the dev split failed: Non-zero status code returned while running Gather node. at backend.ts:130. The run can be resumed once the cause is fixed; it continues after its last recorded iteration",
    );
    expect((error as Error).cause).toBe(native);
  });
});
