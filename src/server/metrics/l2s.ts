import { z } from "zod";
import { accuracy, correctnessTable, meanGeneratedTokens, MismatchedQuestionsError, negativeTransfer, sourceExpertCount, type AnsweredQuestion, type NegativeTransferReport } from "../../engine/metrics/l2s";
import { candidateLabel } from "../../shared/candidate-label";
import type { Db } from "../db/client";
import { globalBests } from "../search/global-best";

/*
 * A run's L2S metrics (accuracy, mean generated tokens, negative transfer against its source experts) and its 0/1
 * correctness table, from the per-question results the search recorded. The source experts are the starting
 * candidates that are experts (not the pairs of a pairs start, nor --populate_initial_experts' children): on dev,
 * iteration 0 measured every one of them; on test, only a run with --starting_test_set_eval 1 measured them, so
 * without it test NTR is reported as not measured rather than computed from fewer sources.
 */

export type MetricsSplit = "dev" | "test";
export type ModelRole = "expert" | "starting_best" | "ending_best";

interface RunRow {
  id: string;
  name: string;
  status: string;
  evalType: string;
  config: unknown;
  candidateNames: string[];
}

interface ModelResults {
  name: string;
  role: ModelRole;
  label: string;
  candidate: number;
  iteration: number;
  results: AnsweredQuestion[];
  scoredTexts: boolean;
}

export interface ModelMetrics {
  name: string;
  role: ModelRole;
  label: string;
  candidate: number;
  iteration: number;
  questions: number;
  accuracy: number | null;
  meanTokens: number | null;
}

export interface SplitMetrics {
  split: MetricsSplit;
  experts: ModelMetrics[];
  startingBest: (ModelMetrics & { ntr: NegativeTransferReport | null }) | null;
  /** The global best: on dev, the best so far while the run runs (`final` says whether it is the ending best). */
  endingBest: (ModelMetrics & { ntr: NegativeTransferReport | null; final: boolean }) | null;
  /** Why there is no NTR on this split, where there is none. */
  ntrMissing: string | null;
}

export interface RunL2sMetrics {
  runId: string;
  name: string;
  /** Why accuracy and NTR do not apply to the run at all (its eval type has no right answers), or null. */
  notApplicable: string | null;
  status: string;
  dev: SplitMetrics;
  test: SplitMetrics;
}

const recordedResults = z.array(z.object({ index: z.number().int(), correct: z.boolean(), tokens: z.number() }));

/** A scored text (perplexity) carries its log-likelihood and no right answer: its `correct` is always false. */
export const NO_RIGHT_ANSWERS = "no right or wrong answers: accuracy and negative transfer do not apply";

function scoresTexts(results: unknown): boolean {
  return Array.isArray(results) && results.some((result) => typeof result === "object" && result !== null && "likelihood" in result);
}

function answered(results: unknown): AnsweredQuestion[] | null {
  const parsed = recordedResults.safeParse(results);
  return parsed.success ? parsed.data.map(({ index, correct, tokens }) => ({ index, correct, tokens })) : null;
}

/**
 * How many of the starting candidates are source experts, or 0 for a run that did not record which they are. A
 * recipe search records its weighted experts (the first starting candidates, whether or not their pairs follow, as
 * `--initial_population auto` decides once it knows how many there are); a run recorded before that, its config.
 */
function expertCountOf(run: RunRow, space: { mode: string; names: string[] } | null, startingCandidates: number): number {
  if (run.candidateNames.length === 0) return 0;
  if (space?.mode === "recipe") return Math.min(space.names.length, startingCandidates);
  const initialPopulation = (run.config as { initialPopulation?: unknown } | null)?.initialPopulation === "pairs" ? "pairs" : "experts";
  // --initial_experts_num below the number of experts leaves the rest out of the population.
  return Math.min(sourceExpertCount(initialPopulation, run.candidateNames.length), startingCandidates);
}

/** A multitask run records its components' results one after the other, each numbered from 0. */
const MULTITASK_NOTE = "a multitask run's results number each component's questions from 0, so they cannot be matched question by question";

type ScoreRow = { iteration: number; candidate: number; utility: number; role: string | null; results: unknown };

/** The recorded models of one split: the source experts (all of them, or none), the starting best, the ending best. */
async function splitModels(db: Db, run: RunRow, split: MetricsSplit): Promise<{ experts: ModelResults[] | null; expertCount: number; startingBest: ModelResults | null; endingBest: (ModelResults & { final: boolean }) | null }> {
  const select = { iteration: true, candidate: true, utility: true, role: true, results: true } as const;
  const initial: ScoreRow[] = await db.candidateScore.findMany({ where: { runId: run.id, split: "dev", iteration: 0 }, orderBy: { candidate: "asc" }, select });
  const space = await db.runSearchSpace.findUnique({ where: { runId: run.id }, select: { mode: true, names: true } });
  const expertCount = expertCountOf(run, space, initial.length);
  const model = (row: ScoreRow | null | undefined, role: ModelRole, label: string): ModelResults | null => {
    const results = row && answered(row.results);
    return row && results ? { name: role === "expert" ? run.candidateNames[row.candidate]! : role, role, label, candidate: row.candidate, iteration: row.iteration, results, scoredTexts: scoresTexts(row.results) } : null;
  };
  const starting: ScoreRow[] = split === "dev" ? initial : await db.candidateScore.findMany({ where: { runId: run.id, split: "test", iteration: 0, role: { in: ["starting", "starting_best"] } }, orderBy: { candidate: "asc" }, select });
  const expertRows = starting.filter((row) => row.candidate < expertCount);
  const experts = expertRows.map((row) => model(row, "expert", candidateLabel(row.candidate, run.candidateNames)));
  const allExperts = expertCount > 0 && experts.length === expertCount && experts.every(Boolean) ? (experts as ModelResults[]) : null;

  if (split === "dev") {
    // The search's starting best is its global best after iteration 0; the ending best, after the last iteration.
    const bests = await globalBests(db, run.id);
    const rowOf = (best: (typeof bests)[number] | undefined) =>
      best ? db.candidateScore.findFirst({ where: { runId: run.id, split: "dev", iteration: best.foundAt, candidate: best.candidate }, select }) : null;
    const [startingBest, globalBest] = await Promise.all([rowOf(bests.find((best) => best.iteration === 0)), rowOf(bests.at(-1))]);
    const final = run.status === "completed";
    const ending = model(globalBest, "ending_best", globalBest ? `${final ? "ending best" : "global best so far"}: ${candidateLabel(globalBest.candidate, run.candidateNames)} at iteration ${globalBest.iteration}` : "");
    return {
      experts: allExperts,
      expertCount,
      startingBest: model(startingBest, "starting_best", startingBest ? `starting best: ${candidateLabel(startingBest.candidate, run.candidateNames)}` : ""),
      endingBest: ending && { ...ending, final },
    };
  }
  const startingBest = starting.find((row) => row.role === "starting_best");
  const endingBest = await db.candidateScore.findFirst({ where: { runId: run.id, split: "test", role: "ending_best" }, select });
  const ending = model(endingBest, "ending_best", "ending best (global_best)");
  return {
    experts: allExperts,
    expertCount,
    startingBest: model(startingBest, "starting_best", startingBest ? `starting best: ${candidateLabel(startingBest.candidate, run.candidateNames)}` : ""),
    endingBest: ending && { ...ending, final: true },
  };
}

function metricsOf(model: ModelResults): ModelMetrics {
  const { results, scoredTexts, ...identity } = model;
  return { ...identity, questions: results.length, accuracy: scoredTexts ? null : accuracy(results), meanTokens: meanGeneratedTokens(results) };
}

async function splitMetrics(db: Db, run: RunRow, split: MetricsSplit): Promise<SplitMetrics> {
  const { experts, expertCount, startingBest, endingBest } = await splitModels(db, run, split);
  const scoredTexts = [...(experts ?? []), startingBest, endingBest].some((model) => model?.scoredTexts);
  let ntrMissing: string | null = null;
  if (scoredTexts) ntrMissing = NO_RIGHT_ANSWERS;
  else if (run.evalType === "multitask") ntrMissing = MULTITASK_NOTE;
  else if (expertCount === 0) ntrMissing = "the run did not record which starting candidates are the experts";
  else if (!experts) ntrMissing = split === "test" ? "the experts were not measured on test (a search with --starting_test_set_eval 1 measures them)" : "the experts' initial evaluation is not recorded yet";
  const sources = experts?.map((expert) => ({ name: expert.name, results: expert.results })) ?? [];
  const ntrOf = (model: ModelResults) => {
    if (!experts || scoredTexts || run.evalType === "multitask") return null;
    try {
      return negativeTransfer(model.results, sources);
    } catch (error) {
      if (!(error instanceof MismatchedQuestionsError)) throw error;
      ntrMissing = `the experts and ${model.label} answered different questions (${error.message})`;
      return null;
    }
  };
  return {
    split,
    experts: (experts ?? []).map(metricsOf),
    startingBest: startingBest && { ...metricsOf(startingBest), ntr: ntrOf(startingBest) },
    endingBest: endingBest && { ...metricsOf(endingBest), final: endingBest.final, ntr: ntrOf(endingBest) },
    ntrMissing,
  };
}

export async function runL2sMetrics(db: Db, run: RunRow): Promise<RunL2sMetrics> {
  const [dev, test] = await Promise.all([splitMetrics(db, run, "dev"), splitMetrics(db, run, "test")]);
  const notApplicable = dev.ntrMissing === NO_RIGHT_ANSWERS || test.ntrMissing === NO_RIGHT_ANSWERS ? NO_RIGHT_ANSWERS : null;
  return { runId: run.id, name: run.name, status: run.status, notApplicable, dev, test };
}

export interface ScoreTable {
  run: string;
  split: MetricsSplit;
  /** The question indices, one column each. */
  questions: number[];
  models: Array<{ name: string; role: ModelRole; candidate: number; iteration: number; scores: Array<0 | 1> }>;
}

/**
 * Per-question correctness, one 0/1 row per recorded model: each source expert, the starting best, the ending
 * best (on dev while running, the best so far). Throws MismatchedQuestionsError when they answered other questions
 * (or, in a multitask run, questions that cannot be told apart).
 */
export async function scoreTable(db: Db, run: RunRow, split: MetricsSplit): Promise<ScoreTable> {
  if (run.evalType === "multitask") throw new MismatchedQuestionsError(MULTITASK_NOTE);
  const { experts, startingBest, endingBest } = await splitModels(db, run, split);
  const models = [...(experts ?? []), ...(startingBest ? [startingBest] : []), ...(endingBest ? [endingBest] : [])];
  const table = correctnessTable(models.map((model) => ({ name: model.name, results: model.results })));
  return {
    run: run.name,
    split,
    questions: table.questions,
    models: models.map((model, position) => ({ name: model.name, role: model.role, candidate: model.candidate, iteration: model.iteration, scores: table.rows[position]!.scores })),
  };
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The table as CSV: `model,role` and then one column per question index. */
export function scoreTableCsv(table: ScoreTable): string {
  const header = ["model", "role", ...table.questions.map(String)];
  const rows = table.models.map((model) => [csvField(model.name), model.role, ...model.scores.map(String)]);
  return [header, ...rows].map((row) => row.join(",")).join("\n") + "\n";
}
