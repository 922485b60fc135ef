import fs from "node:fs";
import path from "node:path";
import { TRPCError } from "@trpc/server";
import { datasetFile, readDatasetFile } from "../../../engine/catalog";
import { getEvalType, multitaskComponents, multitaskParams, questionAnswerItem } from "../../../engine/eval/registry";
import type { Metric, QuestionResult } from "../../../engine/eval/types";
import { candidateLabel } from "../../../shared/candidate-label";
import type { Db } from "../../db/client";
import { realPathInside } from "../../readable-paths";

/*
 * Reads behind the run pages: a run's summary, its best candidate's per-question results (with the dataset's
 * questions beside them) and its log, always from the run's own rows and folder.
 */

export type QuestionResultRow = QuestionResult;

export interface BestResults {
  split: "dev" | "test";
  label: string;
  iteration: number;
  candidate: number;
  utility: number;
  results: Array<QuestionResultRow & { question: string | null; gold: string | null }>;
}

export function questionsOf(dataset: string, split: "dev" | "test"): Array<Record<string, unknown>> {
  try {
    return readDatasetFile(datasetFile(dataset))[split] ?? [];
  } catch {
    return [];
  }
}

export async function findRun(db: Db, id: string) {
  const run = await db.run.findUnique({ where: { id } });
  if (!run) throw new TRPCError({ code: "NOT_FOUND", message: `no run ${id}` });
  return run;
}

/**
 * The question and gold answer of a dataset item as its grader read them: MATH's `problem` and the \boxed{} of its
 * `solution`, AIME's `Answer`, OlympiadBench's `final_answer`, GSM8K's answer after "####". An item that is no
 * question and answer (a perplexity text) shows its text where a question would be, with no gold.
 */
export function questionAndGoldOf(item: Record<string, unknown> | undefined): { question: string | null; gold: string | null } {
  const graded = questionAnswerItem.safeParse(item);
  if (graded.success) return { question: graded.data.question, gold: graded.data.answer };
  return { question: [item?.question, item?.text, item?.page].find((field): field is string => typeof field === "string") ?? null, gold: null };
}

function withQuestions(dataset: string, split: "dev" | "test", results: unknown): BestResults["results"] {
  const items = questionsOf(dataset, split);
  return ((results as QuestionResultRow[] | null) ?? []).map((result) => ({ ...result, ...questionAndGoldOf(items[result.index]) }));
}

/** The global best's dev results (the best dev evaluation so far) and, once measured, the ending best's test results. */
export async function bestResults(db: Db, runId: string): Promise<{ dev: BestResults | null; test: BestResults | null }> {
  const run = await findRun(db, runId);
  const bestDev = await db.candidateScore.findFirst({
    where: { runId, split: "dev" },
    orderBy: [{ utility: metricOf(run.evalType)?.higherIsBetter === false ? "asc" : "desc" }, { iteration: "asc" }, { candidate: "asc" }],
  });
  const endingTest =
    (await db.candidateScore.findFirst({ where: { runId, split: "test", role: "ending_best" } })) ??
    (await db.candidateScore.findFirst({ where: { runId, split: "test", role: "starting_best" } }));
  return {
    dev: bestDev && {
      split: "dev",
      label: `${candidateLabel(bestDev.candidate, run.candidateNames)} at iteration ${bestDev.iteration}`,
      iteration: bestDev.iteration,
      candidate: bestDev.candidate,
      utility: bestDev.utility,
      results: withQuestions(run.dataset, "dev", bestDev.results),
    },
    test: endingTest && {
      split: "test",
      label: endingTest.role === "ending_best" ? "ending best (global_best)" : `starting best, ${candidateLabel(endingTest.candidate, run.candidateNames)}`,
      iteration: endingTest.iteration,
      candidate: endingTest.candidate,
      utility: endingTest.utility,
      results: withQuestions(run.dataset, "test", endingTest.results),
    },
  };
}

/** The metrics whose utility is the share of questions answered right: 0–1 is their whole range. */
export const ACCURACY_METRICS = new Set(["accuracy", "acc_ja"]);

function metricOf(evalType: string): Metric | null {
  try {
    return getEvalType(evalType).metric;
  } catch {
    return null;
  }
}

/**
 * What a run's utility is, for its chart's y axis: the metric's name (saying so where lower is better), and whether
 * it is an accuracy (fixed to 0–1). A multitask's harmonic mean is one when each of its components is.
 */
export function utilityAxisOf(evalType: string, evalParams: unknown, dataset?: string): { metric: string; accuracy: boolean } {
  if (evalType === "multitask") {
    const parsed = multitaskParams.safeParse(evalParams).data;
    const tasks = parsed ? multitaskComponents(parsed, dataset) : [];
    return { metric: "harmonic mean", accuracy: tasks.length > 0 && tasks.every((task) => ACCURACY_METRICS.has(metricOf(task.evalType)?.name ?? "")) };
  }
  const metric = metricOf(evalType);
  if (!metric) return { metric: "utility", accuracy: false };
  return { metric: metric.higherIsBetter ? metric.name : `${metric.name} (lower is better)`, accuracy: ACCURACY_METRICS.has(metric.name) };
}

export interface EvaluationCurve {
  /** After each iteration: the candidate evaluations spent so far (on dev) and the global best's dev utility. */
  dev: Array<{ evaluations: number; iteration: number; best: number }>;
  /** The test utility of the best so far, where measured: the starting best, and the ending global best. */
  test: Array<{ evaluations: number; iteration: number; utility: number; role: "starting_best" | "ending_best" }>;
}

/**
 * Best-so-far utility over candidate evaluations rather than iterations, so runs of other population sizes or
 * optimizers compare at equal cost. The evaluations are the run's recorded dev scores, one per candidate evaluated.
 */
export async function evaluationCurve(db: Db, runId: string): Promise<EvaluationCurve> {
  const [iterations, counts, tests] = await Promise.all([
    db.iteration.findMany({ where: { runId }, orderBy: { index: "asc" }, select: { index: true, globalBestUtility: true } }),
    db.candidateScore.groupBy({ by: ["iteration"], where: { runId, split: "dev" }, _count: { _all: true } }),
    db.candidateScore.findMany({ where: { runId, split: "test", role: { in: ["starting_best", "ending_best"] } }, select: { iteration: true, role: true, utility: true } }),
  ]);
  const evaluatedAt = new Map(counts.map((row) => [row.iteration, row._count._all]));
  let spent = 0;
  const dev = iterations.map((iteration) => {
    spent += evaluatedAt.get(iteration.index) ?? 0;
    return { evaluations: spent, iteration: iteration.index, best: iteration.globalBestUtility };
  });
  const spentAfter = new Map(dev.map((point) => [point.iteration, point.evaluations]));
  const test = tests
    .map((row) => ({ evaluations: spentAfter.get(row.iteration) ?? 0, iteration: row.iteration, utility: row.utility, role: row.role as "starting_best" | "ending_best" }))
    .sort((a, b) => a.iteration - b.iteration || (a.role === "starting_best" ? -1 : 1));
  return { dev, test };
}

/**
 * The last `maxBytes` of the run folder's log.txt; the path comes from the run's row, never from the client, and
 * a log.txt that is a link leading out of the folder is not read.
 */
export function readRunLog(outputDir: string | null, maxBytes: number): { text: string; truncated: boolean; sizeBytes: number } {
  const file = outputDir && realPathInside(outputDir, path.join(path.resolve(outputDir), "log.txt"));
  if (!file) return { text: "", truncated: false, sizeBytes: 0 };
  let handle: number | undefined;
  try {
    handle = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const size = fs.fstatSync(handle).size;
    const start = Math.max(0, size - maxBytes);
    const buffer = Buffer.alloc(size - start);
    fs.readSync(handle, buffer, 0, buffer.length, start);
    let text = buffer.toString("utf8");
    if (start > 0) text = text.slice(text.indexOf("\n") + 1);
    return { text, truncated: start > 0, sizeBytes: size };
  } catch {
    return { text: "", truncated: false, sizeBytes: 0 };
  } finally {
    if (handle !== undefined) fs.closeSync(handle);
  }
}
