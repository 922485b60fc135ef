import { orientationOf, type Orientation } from "../../engine/search/fitness";
import { globalBestByIteration, type BestAt } from "../../shared/correctness-timeline";
import type { Db } from "../db/client";

/*
 * Which evaluation is a run's global best after each iteration: the one the search stored beside the iteration, or
 * for runs recorded before it stored one, the one the stored dev evaluations make the best in the run's own
 * orientation (the lowest perplexity). Every view of "the best" reads it here, so none assumes higher is better.
 */

/** +1 where the run's utility is maximised, −1 where minimised; an eval type this build no longer knows counts as maximised. */
export function orientationOfRun(evalType: string): Orientation {
  try {
    return orientationOf(evalType);
  } catch {
    return 1;
  }
}

/** The global best after each recorded iteration, oldest first. */
export async function globalBests(db: Db, runId: string): Promise<BestAt[]> {
  const [run, iterations] = await Promise.all([
    db.run.findUniqueOrThrow({ where: { id: runId }, select: { evalType: true } }),
    db.iteration.findMany({ where: { runId }, orderBy: { index: "asc" }, select: { index: true, bestCandidate: true, bestIteration: true } }),
  ]);
  if (iterations.every((row) => row.bestCandidate !== null && row.bestIteration !== null)) {
    return iterations.map((row) => ({ iteration: row.index, foundAt: row.bestIteration!, candidate: row.bestCandidate! }));
  }
  const evaluations = await db.candidateScore.findMany({ where: { runId, split: "dev" }, select: { iteration: true, candidate: true, utility: true } });
  return globalBestByIteration(
    iterations.map((row) => row.index),
    evaluations,
    orientationOfRun(run.evalType),
  );
}

/** The global best so far: after the last recorded iteration, or null before the first. */
export async function latestGlobalBest(db: Db, runId: string): Promise<BestAt | null> {
  return (await globalBests(db, runId)).at(-1) ?? null;
}
