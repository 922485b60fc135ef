import type { Split } from "../eval/datasets";
import type { CandidateEvaluation, EvaluationOptions } from "../eval/evaluator";
import type { SearchConfig } from "./config";
import { askCmaes, boundTransform, initialCmaesState, tellCmaes, type CmaesState } from "./cmaes";
import { fitnessEvaluator, orientationOf, orientResult, orientState, utilityOfFitness, utilitySink } from "./fitness";
import type { Population } from "./population";
import type { CandidateOrigin, CandidateProvenance, CandidateRef, Describer } from "./provenance";
import { drawStream, normalStream, pickOther, STREAM, uniform } from "./rng";

/** Evaluates population vectors (candidates or archive slots) on one split. */
export interface VectorEvaluator {
  /** `options.mustReach`: racing (EvaluationOptions); an evaluator that cannot race evaluates in full. */
  evaluate(vectors: readonly Float32Array[], split: Split, options?: Pick<EvaluationOptions, "mustReach">): Promise<CandidateEvaluation[]>;
}

/** Everything needed to continue a search after its last completed iteration. */
export interface SearchState {
  iteration: number;
  /** BWR's step length; CMA-ES's step size σ. */
  stepLength: number;
  scores: number[];
  histories: number[][];
  best: number;
  worst: number;
  bestHistory: number[];
  worstHistory: number[];
  /** Which candidate, at which iteration, last set the global best. */
  bestFound: CandidateRef;
  /** The same for the global worst; absent in snapshots written before it was kept. */
  worstFound?: CandidateRef;
  startingBest: { candidate: number; utility: number };
  /** --optimizer cmaes: the distribution after this iteration's generation, which the next one samples from. */
  cmaes?: CmaesState;
}

export interface IterationRecord {
  index: number;
  state: SearchState;
  startedAt: Date;
  finishedAt: Date;
  mergeMs: number;
  evalMs: number;
  /** Fresh evaluations of this iteration (skipped candidates are absent). */
  evaluations: Array<{ candidate: number; evaluation: CandidateEvaluation }>;
  restarted: number[];
  newBest: boolean;
  /** Every candidate's origin and selection outcome, and (given a describer) what it is; the search always gives it. */
  provenance?: CandidateProvenance[];
}

export interface TestRecord {
  role: "starting_best" | "starting" | "ending_best" | "top_k";
  candidate: number;
  evaluation: CandidateEvaluation;
}

/** Where a search reports progress; the dashboard's database, the CLI's files, or a test's memory. */
export interface SearchSink {
  /** Called after the iteration's population snapshot is durable; a resume starts after the last one recorded. */
  iteration(record: IterationRecord, population: readonly Float32Array[]): Promise<void>;
  test(record: TestRecord): Promise<void>;
  log(line: string): void;
  /** Polled between iterations; true stops the search (it can be resumed). */
  shouldStop(): Promise<boolean>;
}

export interface SearchResult {
  state: SearchState;
  stopped: "max_iteration" | "patience" | "requested";
  tests: TestRecord[];
}

function argmax(values: readonly number[]) {
  return values.reduce((best, value, index) => (value > values[best]! ? index : best), 0);
}
function argmin(values: readonly number[]) {
  return values.reduce((worst, value, index) => (value < values[worst]! ? index : worst), 0);
}

function patienceReached(history: readonly number[], patience: number) {
  if (history.length <= patience) return false;
  const recent = history.slice(-patience);
  return Math.max(...recent) === Math.min(...recent);
}

function isStray(history: readonly number[], config: SearchConfig) {
  const ownBest = Math.max(...history);
  return history.length - history.indexOf(ownBest) >= config.restartPatience * config.patience;
}

/**
 * Fills the slots after the experts with crossover children of random expert pairs (w ~ U(0, 2): half
 * interpolation, half extrapolation), as BWR_model's --populate_initial_experts.
 */
export async function populate(population: Population, experts: number, seed: number): Promise<CandidateOrigin[]> {
  const origins: CandidateOrigin[] = Array.from({ length: Math.min(experts, population.size) }, (_, index) => ({ kind: "starting", index }));
  for (let child = experts; child < population.size; child += 1) {
    const draw = drawStream(seed, STREAM.populate, child);
    const a = Math.floor(draw() * experts);
    const b = pickOther(draw, experts, a);
    const w = draw() * 2;
    await population.crossover(child, a, b, w);
    origins.push({ kind: "crossover", a: { candidate: a, iteration: 0 }, b: { candidate: b, iteration: 0 }, w });
  }
  return origins;
}

async function vectors(population: Population, slots: readonly number[]) {
  return Promise.all(slots.map((slot) => population.read(slot)));
}

/** An evaluation that failed, as one line for the run's status: what was evaluated, why, and what to do. */
export class EvaluationError extends Error {
  override name = "EvaluationError";
}

/** Evaluates `slots`; a failure (onnxruntime, a merge kernel, a GPU process) becomes an EvaluationError whose cause it stays. */
async function evaluate(evaluator: VectorEvaluator, population: Population, slots: readonly number[], split: Split, during: string, options?: Pick<EvaluationOptions, "mustReach">): Promise<CandidateEvaluation[]> {
  try {
    return await evaluator.evaluate(await vectors(population, slots), split, options);
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, " ").trim().replace(/\.$/, "");
    const what = `${slots.length} candidate${slots.length === 1 ? "" : "s"} on the ${split} split`;
    throw new EvaluationError(`${during}: evaluating ${what} failed: ${reason}. The run can be resumed once the cause is fixed; it continues after its last recorded iteration`, { cause: error });
  }
}

/** The recorded provenance of every candidate: its origin and outcome, with what the describer says of its vector now. */
function provenanceOf(origins: readonly CandidateOrigin[], outcomes: readonly CandidateProvenance["selection"][], snapshot: readonly Float32Array[], describe: Describer | undefined, rejected: ReadonlyMap<number, Float32Array>): CandidateProvenance[] {
  return origins.map((origin, candidate) => {
    const tried = rejected.get(candidate);
    return {
      candidate,
      origin,
      selection: outcomes[candidate]!,
      ...(describe && { description: describe(candidate, snapshot[candidate]!) }),
      ...(describe && tried && { rejected: describe(candidate, tried) }),
    };
  });
}

async function initialState(population: Population, evaluator: VectorEvaluator, sink: SearchSink, config: SearchConfig, origins: readonly CandidateOrigin[], describe: Describer | undefined, shown: (fitness: number) => number): Promise<SearchState> {
  const startedAt = new Date();
  const candidates = [...Array(population.size).keys()];
  const evalStarted = performance.now();
  const evaluations = await evaluate(evaluator, population, candidates, "dev", "iteration 0");
  const evalMs = performance.now() - evalStarted;
  const scores = evaluations.map((evaluation) => evaluation.utility);
  const bestCandidate = argmax(scores);
  const worstCandidate = argmin(scores);
  await population.copy(population.bestSlot, bestCandidate);
  await population.copy(population.worstSlot, worstCandidate);
  const cmaes = config.optimizer === "cmaes" ? await startingDistribution(population, config) : undefined;
  const state: SearchState = {
    iteration: 0,
    stepLength: cmaes?.sigma ?? config.stepLength,
    scores,
    histories: scores.map((score) => [score]),
    best: Math.max(...scores),
    worst: Math.min(...scores),
    bestHistory: [Math.max(...scores)],
    worstHistory: [Math.min(...scores)],
    bestFound: { candidate: bestCandidate, iteration: 0 },
    worstFound: { candidate: worstCandidate, iteration: 0 },
    startingBest: { candidate: bestCandidate, utility: scores[bestCandidate]! },
    ...(cmaes && { cmaes }),
  };
  sink.log(`search initialized: ${population.size} candidates, starting best ${shown(state.best)} (candidate_${bestCandidate}), worst ${shown(state.worst)}`);
  const snapshot = await population.snapshot();
  const provenance = provenanceOf(candidates.map((candidate) => origins[candidate] ?? { kind: "starting", index: candidate }), candidates.map(() => "kept"), snapshot, describe, new Map());
  await sink.iteration(
    { index: 0, state, startedAt, finishedAt: new Date(), mergeMs: 0, evalMs, evaluations: evaluations.map((evaluation, candidate) => ({ candidate, evaluation })), restarted: [], newBest: true, provenance },
    snapshot,
  );
  return state;
}

/** BWR's moves (or random search's draws) of iteration `t`; returns the stray candidates that were restarted, and each move. */
async function moveCandidates(population: Population, state: SearchState, config: SearchConfig, t: number): Promise<{ restarted: number[]; origins: CandidateOrigin[] }> {
  const n = population.size;
  const restarted: number[] = [];
  const origins: CandidateOrigin[] = [];
  // Candidates move in place, in order: a peer before `i` has already moved in this iteration.
  const peer = (candidate: number, i: number): CandidateRef => ({ candidate, iteration: candidate < i ? t : t - 1 });
  for (let i = 0; i < n; i += 1) {
    const draw = drawStream(config.seed, STREAM.move, t, i);
    const [r1, r2, r3, r4] = [draw(), draw(), draw(), draw()];
    const T = draw() < 0.5 ? 1 : 2;
    const partner = pickOther(draw, n, i);
    const stray = config.optimizer === "bwr" && config.restartStrayCandidates === 1 && isStray(state.histories[i]!, config);
    if (stray) restarted.push(i);
    if (config.optimizer === "random") {
      const [low, high] = config.recipeBounds;
      await population.resetInBox(i, Math.floor(uniform(config.seed, STREAM.reset, t, i) * 2 ** 31), low, high);
      origins.push({ kind: "random_sample" });
    } else if (!stray && r4 > 1 - config.updateProbability) {
      await population.bwrUpdate(i, partner, { r1, r2, T, step: state.stepLength });
      origins.push({ kind: "bwr", current: { candidate: i, iteration: t - 1 }, best: state.bestFound, worst: state.worstFound ?? null, random: peer(partner, i), T, r1, r2, step: state.stepLength, restarted: false });
    } else if (config.resetRule === "bounds") {
      await population.resetWithinBounds(i, Math.floor(uniform(config.seed, STREAM.reset, t, i) * 2 ** 31));
      origins.push({ kind: "reset_bounds", restarted: stray });
    } else {
      await population.resetScaled(i, partner, r3);
      origins.push({ kind: "reset_scaled", random: peer(partner, i), r3, restarted: stray });
    }
  }
  return { restarted, origins };
}

/**
 * CMA-ES starts at the centre of the starting population (for the experts' own recipes, weight 1/experts each: the
 * x0 of mergekit-evolve), with σ0 from --cmaes_sigma0 or a quarter of the --recipe_bounds width.
 */
async function startingDistribution(population: Population, config: SearchConfig): Promise<CmaesState> {
  const starting = await vectors(population, [...Array(population.size).keys()]);
  const centre = Array.from(starting[0]!, (_, k) => starting.reduce((sum, vector) => sum + vector[k]!, 0) / starting.length);
  const [low, high] = config.recipeBounds;
  return initialCmaesState(centre, config.cmaesSigma0 ?? (high - low) / 4);
}

/**
 * BWR (Best-Worst-Random) over a population: each iteration moves every candidate towards the global best
 * and away from the global worst relative to a random peer (or resets it), evaluates all of them on dev, and
 * archives new global bests and worsts. Test data is touched only at the start (optionally) and the end.
 * The same loop runs recipe mode's other optimizers at the same budget: random search (every candidate drawn in
 * --recipe_bounds) and CMA-ES (the candidates are one generation of samples, mapped into --recipe_bounds, whose
 * ranking on dev updates the distribution; its state travels in SearchState.cmaes).
 * A utility where lower is better (perplexity) is searched as a fitness, its negative (fitness.ts); the sink, the
 * resume state and the result hold the true utility.
 */
export async function runBwrSearch(options: {
  config: SearchConfig;
  population: Population;
  evaluator: VectorEvaluator;
  sink: SearchSink;
  /** The state after the last completed iteration, with the population already restored to it. */
  resume?: SearchState;
  /** How the starting population was made (populate's answer); every candidate is a starting one otherwise. */
  startingOrigins?: readonly CandidateOrigin[];
  /** What each candidate's vector is, recorded with its provenance (the recipe, or distances from its start). */
  describe?: Describer;
  /**
   * Whether the starting test evaluation still has to run: always on a fresh search; on a resume only when the
   * process died after iteration 0 and before the sink recorded every starting test result.
   */
  startingTest?: boolean;
}): Promise<SearchResult> {
  const sign = orientationOf(options.config.evalType);
  const shown = utilityOfFitness(sign);
  const { config, population } = options;
  const evaluator = fitnessEvaluator(options.evaluator, sign);
  const sink = utilitySink(options.sink, sign);
  const n = population.size;
  const tests: TestRecord[] = [];
  let state = options.resume ? orientState(options.resume, sign) : await initialState(population, evaluator, sink, config, options.startingOrigins ?? [], options.describe, shown);

  if (options.startingTest ?? !options.resume) {
    if (state.iteration !== 0) throw new Error(`the starting test evaluation needs the population of iteration 0, not of iteration ${state.iteration}`);
    // The starting best's test accuracy is the baseline the ending best is compared with.
    const measured = config.startingTestSetEval === 1 ? [...Array(n).keys()] : [state.startingBest.candidate];
    const evaluations = await evaluate(evaluator, population, measured, "test", "the starting best's test");
    for (const [index, evaluation] of evaluations.entries()) {
      const candidate = measured[index]!;
      const record: TestRecord = { role: candidate === state.startingBest.candidate ? "starting_best" : "starting", candidate, evaluation };
      sink.log(`starting test utility candidate_${candidate}: ${shown(evaluation.utility)}`);
      await sink.test(record);
      tests.push(record);
    }
  }

  if (config.optimizer === "cmaes" && !state.cmaes) {
    throw new Error(`the state after iteration ${state.iteration} holds no CMA-ES distribution: it was not written by a search with --optimizer cmaes`);
  }
  let stopped: SearchResult["stopped"] = "max_iteration";
  while (state.iteration < config.maxIteration) {
    if (patienceReached(state.bestHistory, config.patience)) {
      stopped = "patience";
      sink.log("patience reached!");
      break;
    }
    if (await sink.shouldStop()) {
      stopped = "requested";
      sink.log(`stopped on request after iteration ${state.iteration}; resumable`);
      break;
    }
    const t = state.iteration + 1;
    const startedAt = new Date();
    const mergeStarted = performance.now();
    const previous = config.selection === "greedy" ? await vectors(population, [...Array(n).keys()]) : [];
    const dropIteration = uniform(config.seed, STREAM.drop, t, -1) < config.dropK;
    const evaluated = dropIteration ? [] : [...Array(n).keys()].filter((i) => uniform(config.seed, STREAM.drop, t, i) >= config.dropN);
    const generation = config.optimizer === "cmaes" ? askCmaes(state.cmaes!, n, normalStream(config.seed, STREAM.cmaes, t)) : undefined;
    if (generation) {
      // A sample left unevaluated by --dropN keeps its slot's last candidate, whose score is still its own.
      const [low, high] = config.recipeBounds;
      for (const i of evaluated) await population.write(i, Float32Array.from(generation.genotypes[i]!, (x) => boundTransform(x, low, high)));
    }
    const moved = generation ? undefined : await moveCandidates(population, state, config, t);
    const restarted = moved?.restarted ?? [];
    const origins: CandidateOrigin[] =
      moved?.origins ?? [...Array(n).keys()].map((i) => (evaluated.includes(i) ? { kind: "cmaes_sample", sigma: state.stepLength } : { kind: "unchanged", current: { candidate: i, iteration: t - 1 } }));
    const mergeMs = performance.now() - mergeStarted;
    for (const candidate of restarted) sink.log(`candidate_${candidate} restarted!`);

    if (dropIteration) sink.log("dropped iteration!");
    const evalStarted = performance.now();
    // Racing asks a move only as many questions as it takes to show it cannot be kept (greedy selection).
    const racing = config.selection === "greedy" && config.racing === 1 ? { mustReach: evaluated.map((candidate) => state.scores[candidate]!) } : undefined;
    const fresh = evaluated.length ? await evaluate(evaluator, population, evaluated, "dev", `iteration ${t}`, racing) : [];
    const evalMs = performance.now() - evalStarted;
    fresh.forEach(({ racedOut }, index) => {
      if (racedOut) sink.log(`candidate_${evaluated[index]} raced out after ${racedOut.questions} of ${racedOut.of} questions (at most ${shown(racedOut.bound)}, needed ${shown(state.scores[evaluated[index]!]!)})`);
    });

    const scores = [...state.scores];
    evaluated.forEach((candidate, index) => {
      const utility = fresh[index]!.utility;
      if (config.selection === "greedy" && utility < state.scores[candidate]!) return;
      scores[candidate] = utility;
    });
    const outcomes: CandidateProvenance["selection"][] = new Array(n).fill("not_evaluated");
    const rejected = new Map<number, Float32Array>();
    for (const candidate of evaluated) {
      const kept = config.selection !== "greedy" || scores[candidate] === fresh[evaluated.indexOf(candidate)]!.utility;
      outcomes[candidate] = kept ? "kept" : "rejected";
      if (kept) continue;
      if (options.describe) rejected.set(candidate, (await population.read(candidate)).slice());
      await population.write(candidate, previous[candidate]!);
    }

    const next: SearchState = {
      ...state,
      iteration: t,
      scores,
      histories: state.histories.map((history, candidate) => [...history, scores[candidate]!]),
      bestHistory: [...state.bestHistory],
      worstHistory: [...state.worstHistory],
      stepLength: Math.max(state.stepLength * config.stepLengthFactor, config.minimumStepLength),
    };
    if (generation) {
      // CMA-ES minimises: the utility's negative, and NaN for a sample that was not evaluated.
      const values = new Array<number>(n).fill(Number.NaN);
      evaluated.forEach((candidate, index) => (values[candidate] = -fresh[index]!.utility));
      next.cmaes = tellCmaes(generation.state, generation.genotypes, values);
      next.stepLength = next.cmaes.sigma;
    }
    const top = argmax(scores);
    const newBest = scores[top]! > state.best;
    if (newBest) {
      next.best = scores[top]!;
      next.bestFound = { candidate: top, iteration: t };
      await population.copy(population.bestSlot, top);
      sink.log(`new best model: ${shown(next.best)} (candidate_${top}, iteration ${t})`);
    }
    next.bestHistory.push(next.best);
    const bottom = argmin(scores);
    if (scores[bottom]! < state.worst) {
      next.worst = scores[bottom]!;
      next.worstFound = { candidate: bottom, iteration: t };
      await population.copy(population.worstSlot, bottom);
    }
    next.worstHistory.push(next.worst);
    state = next;
    sink.log(`iteration ${t}: best ${shown(state.best)}, worst ${shown(state.worst)}, mean ${shown(scores.reduce((a, b) => a + b, 0) / n).toFixed(4)}, step ${state.stepLength.toFixed(4)}`);
    const snapshot = await population.snapshot();
    await sink.iteration(
      {
        index: t,
        state,
        startedAt,
        finishedAt: new Date(),
        mergeMs,
        evalMs,
        // A raced-out move was not asked every question: its bound is no utility, so it is recorded as not evaluated.
        evaluations: evaluated.map((candidate, index) => ({ candidate, evaluation: fresh[index]! })).filter(({ evaluation }) => !evaluation.racedOut),
        restarted,
        newBest,
        provenance: provenanceOf(origins, outcomes, snapshot, options.describe, rejected),
      },
      snapshot,
    );
  }

  if (stopped !== "requested") {
    const others = [...state.scores.keys()].sort((a, b) => state.scores[b]! - state.scores[a]!).slice(0, config.topKTest - 1);
    const evaluations = await evaluate(evaluator, population, [population.bestSlot, ...others], "test", "the final test");
    const records: TestRecord[] = [
      { role: "ending_best", candidate: state.bestFound.candidate, evaluation: evaluations[0]! },
      ...others.map((candidate, index) => ({ role: "top_k" as const, candidate, evaluation: evaluations[index + 1]! })),
    ];
    for (const record of records) {
      sink.log(`${record.role === "ending_best" ? "ending best" : `top-k candidate_${record.candidate}`} test utility: ${shown(record.evaluation.utility)}`);
      await sink.test(record);
      tests.push(record);
    }
  }
  return orientResult({ state, stopped, tests }, sign);
}
