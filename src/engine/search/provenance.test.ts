import fs from "node:fs";
import { describe, expect, it } from "vitest";
import type { Split } from "../eval/datasets";
import type { CandidateEvaluation } from "../eval/evaluator";
import { populate, runBwrSearch, type IterationRecord, type SearchSink, type SearchState, type VectorEvaluator } from "./bwr";
import { searchConfigSchema, type SearchConfigInput } from "./config";
import { ArrayPopulation } from "./population";
import { describeRecipe, moduleDistanceDescriber, type CandidateDescription, type CandidateRef, type Describer } from "./provenance";
import { drawStream } from "./rng";

const target = Float32Array.from({ length: 16 }, (_, k) => Math.sin(k));

const toyEvaluator: VectorEvaluator = {
  async evaluate(vectors, split: Split): Promise<CandidateEvaluation[]> {
    return vectors.map((vector) => {
      const error = vector.reduce((sum, value, k) => sum + (value - target[k]!) ** 2, 0) / vector.length;
      return { utility: 1 / (1 + error) - (split === "test" ? 0.01 : 0), metrics: {}, results: [], tokens: 0, ms: 0 };
    });
  },
};

function experts(count: number, seed = 7): Float32Array[] {
  return Array.from({ length: count }, (_, index) => {
    const draw = drawStream(seed, index);
    return Float32Array.from({ length: 16 }, () => draw() * 2 - 1);
  });
}

class MemorySink implements SearchSink {
  records: IterationRecord[] = [];
  constructor(private readonly stopAfter = Number.POSITIVE_INFINITY) {}
  async iteration(record: IterationRecord) {
    this.records.push(record);
  }
  async test() {}
  log() {}
  async shouldStop() {
    return (this.records.at(-1)?.index ?? 0) >= this.stopAfter;
  }
}

/** Four experts and two crossover children, as --populate_initial_experts makes them. */
async function search(overrides: Partial<SearchConfigInput>, { describe, stopAfter, resume }: { describe?: Describer; stopAfter?: number; resume?: { state: SearchState; population: Float32Array[] } } = {}) {
  const config = searchConfigSchema.parse({ name: "toy", evalType: "exact_match", dataset: "toy", patience: 50, ...overrides });
  const population = new ArrayPopulation(experts(4).concat(experts(2, 11)));
  const startingOrigins = await populate(population, 4, config.seed);
  if (resume) await population.restore(resume.population);
  const sink = new MemorySink(stopAfter);
  const result = await runBwrSearch({ config, population, evaluator: toyEvaluator, sink, startingOrigins, describe, resume: resume?.state });
  return { sink, result, population };
}

// The same searches as fixtures/bwr-utilities-before-provenance.json, which today's search wrote before it recorded provenance.
const cases: Partial<SearchConfigInput>[] = [
  { seed: 3, maxIteration: 12 },
  { seed: 5, maxIteration: 12, selection: "greedy", resetRule: "bounds", dropN: 0.2 },
  { seed: 9, maxIteration: 12, restartStrayCandidates: 1, restartPatience: 1, patience: 2 },
];

describe("recording what candidates are and where they came from", () => {
  it("changes no number the search computes: the utilities of the search before it, with and without a describer", async () => {
    const before = JSON.parse(fs.readFileSync(new URL("./fixtures/bwr-utilities-before-provenance.json", import.meta.url), "utf8")) as Array<{ scores: number[]; bestHistory: number[] }>;
    for (const [index, overrides] of cases.entries()) {
      const described = await search(overrides, { describe: describeRecipe });
      const plain = await search(overrides);
      expect({ scores: described.result.state.scores, bestHistory: described.result.state.bestHistory }).toEqual(before[index]);
      expect(described.result.state).toEqual(plain.result.state);
      expect(await described.population.snapshot()).toEqual(await plain.population.snapshot());
    }
  });

  it("names the starting experts and the crossover children with their parents and weight", async () => {
    const { sink } = await search({ seed: 3, maxIteration: 1 }, { describe: describeRecipe });
    const start = sink.records[0]!.provenance!;
    expect(start.slice(0, 4).map(({ origin }) => origin)).toEqual([0, 1, 2, 3].map((index) => ({ kind: "starting", index })));
    for (const { origin, description } of start.slice(4)) {
      if (origin.kind !== "crossover") throw new Error(`expected a crossover child, got ${origin.kind}`);
      const [a, b] = [start[origin.a.candidate]!.description!.recipe!, start[origin.b.candidate]!.description!.recipe!];
      description!.recipe!.forEach((value, k) => expect(value).toBeCloseTo(origin.w * a[k]! + (1 - origin.w) * b[k]!, 5));
    }
    expect(start.every(({ selection }) => selection === "kept")).toBe(true);
  });

  for (const selection of ["replace", "greedy"] as const) {
    it(`records each BWR move's parents and draws so that the move can be replayed from them (--selection ${selection})`, async () => {
      const { sink } = await search({ seed: 5, maxIteration: 10, selection, updateProbability: 0.7 }, { describe: describeRecipe });
      const byIteration = sink.records.map((record) => record.provenance!);
      const after = (ref: CandidateRef) => byIteration[ref.iteration]![ref.candidate]!.description!.recipe!;
      /** What a move read of a peer that had moved earlier in the same iteration: its proposal, before selection. */
      const proposal = (ref: CandidateRef) => {
        const entry = byIteration[ref.iteration]![ref.candidate]!;
        return (entry.rejected ?? entry.description!).recipe!;
      };
      let moves = 0;
      for (const [t, provenance] of byIteration.entries()) {
        if (t === 0) continue;
        const evaluated = new Map(sink.records[t]!.evaluations.map(({ candidate, evaluation }) => [candidate, evaluation.utility]));
        for (const { candidate, origin, selection: outcome, description, rejected } of provenance) {
          expect(outcome).toBe(evaluated.has(candidate) ? (rejected ? "rejected" : "kept") : "not_evaluated");
          if (origin.kind !== "bwr") continue;
          moves += 1;
          expect(origin.current).toEqual({ candidate, iteration: t - 1 });
          expect(origin.random.iteration).toBe(origin.random.candidate < candidate ? t : t - 1);
          expect(origin.best).toEqual(sink.records[t - 1]!.state.bestFound);
          const [cur, best, worst] = [after(origin.current), after(origin.best), after(origin.worst!)];
          const rnd = origin.random.iteration === t ? proposal(origin.random) : after(origin.random);
          const moved = (rejected ?? description!).recipe!;
          moved.forEach((value, k) => expect(value).toBeCloseTo(cur[k]! + origin.step * (origin.r1 * (best[k]! - origin.T * rnd[k]!) - origin.r2 * (worst[k]! - rnd[k]!)), 5));
          // What was evaluated is the move itself; a rejected one leaves the candidate as it was.
          if (evaluated.has(candidate)) expect((await toyEvaluator.evaluate([Float32Array.from(moved)], "dev"))[0]!.utility).toBeCloseTo(evaluated.get(candidate)!, 6);
          if (rejected) expect(description!.recipe).toEqual(cur);
        }
      }
      expect(moves).toBeGreaterThan(10);
      if (selection === "greedy") expect(byIteration.flat().some(({ selection: outcome }) => outcome === "rejected")).toBe(true);
      else expect(byIteration.flat().some(({ selection: outcome }) => outcome === "rejected")).toBe(false);
    });
  }

  it("records resets and stray restarts, and random search's draws", async () => {
    const { sink } = await search({ seed: 9, maxIteration: 12, restartStrayCandidates: 1, restartPatience: 1, patience: 2 }, { describe: describeRecipe });
    const origins = sink.records.slice(1).flatMap((record) => record.provenance!.map(({ origin }) => origin));
    expect(origins.some((origin) => origin.kind === "reset_scaled" && origin.restarted)).toBe(true);
    for (const [t, record] of sink.records.entries()) {
      const restarted = record.provenance!.filter(({ origin }) => "restarted" in origin && origin.restarted).map(({ candidate }) => candidate);
      expect(restarted).toEqual(t === 0 ? [] : record.restarted);
    }
    const random = await search({ seed: 2, maxIteration: 2, optimizer: "random", mode: "recipe" });
    expect(random.sink.records[1]!.provenance!.map(({ origin }) => origin.kind)).toEqual(new Array(6).fill("random_sample"));
  });

  it("records CMA-ES samples at the step size they were drawn with, and a sample --dropN left out as unchanged", async () => {
    const { sink } = await search({ seed: 6, maxIteration: 4, optimizer: "cmaes", mode: "recipe", dropN: 0.3 }, { describe: describeRecipe });
    let unchanged = 0;
    for (const [t, record] of sink.records.entries()) {
      if (t === 0) continue;
      const evaluated = new Set(record.evaluations.map(({ candidate }) => candidate));
      for (const { candidate, origin, selection, description } of record.provenance!) {
        if (evaluated.has(candidate)) {
          expect(origin).toEqual({ kind: "cmaes_sample", sigma: sink.records[t - 1]!.state.stepLength });
          expect(selection).toBe("kept");
        } else {
          unchanged += 1;
          expect(origin).toEqual({ kind: "unchanged", current: { candidate, iteration: t - 1 } });
          expect(description!.recipe).toEqual(sink.records[t - 1]!.provenance![candidate]!.description!.recipe);
        }
      }
    }
    expect(unchanged).toBeGreaterThan(0);
  });

  it("continues on a resume exactly as the uninterrupted search records it", async () => {
    const overrides = { seed: 5, maxIteration: 10, selection: "greedy" as const };
    const whole = await search(overrides, { describe: describeRecipe });
    const first = await search(overrides, { describe: describeRecipe, stopAfter: 4 });
    expect(first.result.stopped).toBe("requested");
    const resumed = await search(overrides, { describe: describeRecipe, resume: { state: first.result.state, population: await first.population.snapshot() } });
    const provenance = (records: IterationRecord[]) => records.map((record) => [record.index, record.provenance]);
    expect([...provenance(first.sink.records), ...provenance(resumed.sink.records)]).toEqual(provenance(whole.sink.records));
  });
});

describe("moduleDistanceDescriber", () => {
  it("measures each module's relative Frobenius distance over its A and B from the candidate's own start", () => {
    // Two modules: A at 0..2, B at 2..4, and A at 4..5, B at 5..6.
    const modules = [
      { a: { offset: 0, size: 2 }, b: { offset: 2, size: 2 } },
      { a: { offset: 4, size: 1 }, b: { offset: 5, size: 1 } },
    ];
    const starting = [Float32Array.of(3, 0, 0, 4, 0, 0), Float32Array.of(1, 1, 1, 1, 2, 0)];
    const describe = moduleDistanceDescriber(modules, starting);
    const distances = (description: CandidateDescription) => description.moduleDistances!;
    expect(distances(describe(0, Float32Array.of(3, 0, 0, 4, 0, 0)))).toEqual([0, 0]);
    // ‖(0,0,0,-4)‖ / ‖(3,0,0,4)‖ = 4/5; the second module starts at zero, so its distance is absolute: ‖(1,1)‖.
    expect(distances(describe(0, Float32Array.of(3, 0, 0, 0, 1, 1)))).toEqual([0.8, Math.SQRT2]);
    // Candidate 1 is measured from its own start: ‖(1,1,1,1)‖ / 2 = 1; ‖(2,0)‖ / 2 = 1.
    expect(distances(describe(1, Float32Array.of(2, 2, 2, 2, 0, 0)))).toEqual([1, 1]);
  });
});
