import type { CandidateEvaluation } from "../eval/evaluator";
import { getEvalType } from "../eval/registry";
import type { SearchResult, SearchSink, SearchState, TestRecord, VectorEvaluator } from "./bwr";

/*
 * The search maximises a fitness: the utility where higher is better, its negative where lower is better
 * (perplexity). Every comparison of the search (greedy selection, the global best and worst, patience, the top k,
 * CMA-ES's ranking, racing's bounds) is written for maximising; the utility becomes a fitness where evaluations
 * enter the search and becomes a utility again where its state and results leave it, so everything stored, shown
 * and downloaded is the true utility.
 */

/** +1 where the eval type's utility is maximised, −1 where it is minimised. */
export type Orientation = 1 | -1;

/** A multitask's harmonic mean is maximised (its components are refused where lower is better). */
export function orientationOf(evalType: string): Orientation {
  if (evalType === "multitask") return 1;
  return getEvalType(evalType).metric.higherIsBetter ? 1 : -1;
}

function orientEvaluation(evaluation: CandidateEvaluation, sign: Orientation): CandidateEvaluation {
  if (sign === 1) return evaluation;
  const { racedOut } = evaluation;
  return { ...evaluation, utility: -evaluation.utility, ...(racedOut && { racedOut: { ...racedOut, bound: -racedOut.bound } }) };
}

/** A state in fitness (the search's) as one in utility (the store's), or the reverse. */
export function orientState(state: SearchState, sign: Orientation): SearchState {
  if (sign === 1) return state;
  return {
    ...state,
    scores: state.scores.map((score) => -score),
    histories: state.histories.map((history) => history.map((score) => -score)),
    best: -state.best,
    worst: -state.worst,
    bestHistory: state.bestHistory.map((score) => -score),
    worstHistory: state.worstHistory.map((score) => -score),
    startingBest: { ...state.startingBest, utility: -state.startingBest.utility },
  };
}

/** An evaluator whose utilities are fitnesses; racing's thresholds come in as fitnesses and go out as utilities. */
export function fitnessEvaluator(evaluator: VectorEvaluator, sign: Orientation): VectorEvaluator {
  if (sign === 1) return evaluator;
  return {
    async evaluate(vectors, split, options) {
      const mustReach = options?.mustReach?.map((fitness) => -fitness);
      const evaluations = await evaluator.evaluate(vectors, split, mustReach && { mustReach });
      return evaluations.map((evaluation) => orientEvaluation(evaluation, sign));
    },
  };
}

/** A sink that receives the search's fitnesses and records utilities. */
export function utilitySink(sink: SearchSink, sign: Orientation): SearchSink {
  if (sign === 1) return sink;
  return {
    iteration: (record, population) =>
      sink.iteration(
        { ...record, state: orientState(record.state, sign), evaluations: record.evaluations.map(({ candidate, evaluation }) => ({ candidate, evaluation: orientEvaluation(evaluation, sign) })) },
        population,
      ),
    test: (record: TestRecord) => sink.test({ ...record, evaluation: orientEvaluation(record.evaluation, sign) }),
    log: (line) => sink.log(line),
    shouldStop: () => sink.shouldStop(),
  };
}

/** The search's result, its state and test evaluations in utility. */
export function orientResult(result: SearchResult, sign: Orientation): SearchResult {
  if (sign === 1) return result;
  return { ...result, state: orientState(result.state, sign), tests: result.tests.map((record) => ({ ...record, evaluation: orientEvaluation(record.evaluation, sign) })) };
}

/** A fitness as the utility it stands for, for the search's log lines (the mapping is its own inverse). */
export const utilityOfFitness = (sign: Orientation) => (fitness: number) => (sign === 1 ? fitness : -fitness);
