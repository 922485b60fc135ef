import type { CandidateOrigin, SelectionOutcome } from "../../engine/search/provenance";
import { recipeImportance } from "../../shared/recipe-importance";
import type { Db } from "../db/client";
import { latestGlobalBest, orientationOfRun } from "./global-best";

/*
 * What the run page shows of what the search found: every candidate's provenance per iteration with the dev
 * utility of what was evaluated, the run's best candidate, and each recipe coefficient's importance.
 */

export interface ProvenanceRow {
  iteration: number;
  candidate: number;
  origin: CandidateOrigin;
  selection: SelectionOutcome;
  /** The candidate after selection. */
  recipe: number[];
  moduleDistances: number[];
  /** What was evaluated: the move itself (a rejected one's own numbers). */
  evaluatedRecipe: number[];
  /** The dev utility of what was evaluated; null when it was not evaluated (or raced out). */
  utility: number | null;
}

export async function candidateProvenance(db: Db, runId: string) {
  const [run, space, stored, scores, best] = await Promise.all([
    db.run.findUniqueOrThrow({ where: { id: runId }, select: { evalType: true } }),
    db.runSearchSpace.findUnique({ where: { runId } }),
    db.candidateProvenance.findMany({ where: { runId }, orderBy: [{ iteration: "asc" }, { candidate: "asc" }] }),
    db.candidateScore.findMany({ where: { runId, split: "dev" }, select: { iteration: true, candidate: true, utility: true } }),
    latestGlobalBest(db, runId),
  ]);
  const utilityAt = new Map(scores.map(({ iteration, candidate, utility }) => [`${iteration}:${candidate}`, utility]));
  const rows: ProvenanceRow[] = stored.map((row) => ({
    iteration: row.iteration,
    candidate: row.candidate,
    origin: row.origin as unknown as CandidateOrigin,
    selection: row.selection as SelectionOutcome,
    recipe: row.recipe,
    moduleDistances: row.moduleDistances,
    evaluatedRecipe: row.selection === "rejected" ? row.rejectedRecipe : row.recipe,
    utility: utilityAt.get(`${row.iteration}:${row.candidate}`) ?? null,
  }));
  const evaluated = rows.filter((row) => row.utility !== null && row.evaluatedRecipe.length > 0);
  // ρ's sign says whether more weight made the candidate better: against a minimised utility (perplexity), its negative.
  const orientation = orientationOfRun(run.evalType);
  const importance = space?.mode === "recipe" ? recipeImportance(evaluated.map((row) => row.evaluatedRecipe), evaluated.map((row) => orientation * row.utility!)) : [];
  return {
    space: space && { mode: space.mode as "recipe" | "weights", names: space.names, layers: space.layers },
    rows,
    best: best && { candidate: best.candidate, iteration: best.foundAt },
    importance,
  };
}

export type CandidateProvenanceData = Awaited<ReturnType<typeof candidateProvenance>>;
