import type { QuestionResult } from "../../../engine/eval/types";
import { candidateLabel } from "../../../shared/candidate-label";
import { correctnessTimeline, type QuestionTimeline } from "../../../shared/correctness-timeline";
import type { Direction } from "../../../shared/pareto";
import type { Db } from "../../db/client";
import { Prisma } from "../../db/generated/client";
import { globalBests } from "../../search/global-best";
import { ACCURACY_METRICS, findRun, questionAndGoldOf, questionsOf } from "./run-data";

/*
 * Reads behind the run page's insight views (correctness over time, the Pareto front), from the run's own rows: the
 * global best after each iteration is the one stored beside it, or for iterations recorded before that, the one its
 * stored dev evaluations make the best (globalBests). Answers are only ever the stored rows' own.
 */

/** How long a question's text may be in the map's detail. */
const EXCERPT_CHARS = 400;

type StoredAnswer = Pick<QuestionResult, "index" | "prediction" | "answer" | "correct" | "tokens" | "abstained">;

export interface CorrectnessOverTime {
  iterations: number[];
  /** After each iteration, which of `evaluations` is the global best (null: its row is not stored). */
  bestAt: Array<number | null>;
  evaluations: Array<{ iteration: number; candidate: number; label: string; utility: number; answers: StoredAnswer[] }>;
  questions: Array<{ index: number; excerpt: string | null; gold: string | null }>;
  timeline: QuestionTimeline[];
  /** Where the test split was measured: the global best's dev utility then, its test utility, and dev − test. */
  gap: Array<{ iteration: number; role: "starting_best" | "ending_best"; dev: number; test: number; gap: number }>;
}

export async function correctnessOverTime(db: Db, runId: string): Promise<CorrectnessOverTime> {
  const run = await findRun(db, runId);
  const bests = await globalBests(db, runId);
  const keys = [...new Set(bests.map((best) => `${best.foundAt}:${best.candidate}`))];
  const rows = keys.length
    ? await db.candidateScore.findMany({
        where: { runId, split: "dev", OR: keys.map((key) => ({ iteration: Number(key.split(":")[0]), candidate: Number(key.split(":")[1]) })) },
        orderBy: [{ iteration: "asc" }, { candidate: "asc" }],
        select: { iteration: true, candidate: true, utility: true, results: true },
      })
    : [];
  const position = new Map(rows.map((row, index) => [`${row.iteration}:${row.candidate}`, index]));
  const evaluations = rows.map((row) => ({
    iteration: row.iteration,
    candidate: row.candidate,
    label: `${candidateLabel(row.candidate, run.candidateNames)} at iteration ${row.iteration}`,
    utility: row.utility,
    answers: ((row.results as QuestionResult[] | null) ?? []).map(({ index, prediction, answer, correct, tokens, abstained }) => ({ index, prediction, answer, correct, tokens, abstained })),
  }));
  const bestAt = bests.map((best) => position.get(`${best.foundAt}:${best.candidate}`) ?? null);
  const answersAt = bestAt.map((at) => (at === null ? null : evaluations[at]!.answers.map((answer) => answer.correct)));
  const timeline = correctnessTimeline(
    bests.map((best) => best.iteration),
    answersAt,
  );
  const items = questionsOf(run.dataset, "dev");
  const questions = timeline.map(({ index }) => {
    const { question, gold } = questionAndGoldOf(items[index]);
    return { index, excerpt: question === null ? null : question.slice(0, EXCERPT_CHARS), gold };
  });
  return { iterations: bests.map((best) => best.iteration), bestAt, evaluations, questions, timeline, gap: await devTestGap(db, runId) };
}

async function devTestGap(db: Db, runId: string): Promise<CorrectnessOverTime["gap"]> {
  const [tests, iterations] = await Promise.all([
    db.candidateScore.findMany({ where: { runId, split: "test", role: { in: ["starting_best", "ending_best"] } }, select: { iteration: true, role: true, utility: true } }),
    db.iteration.findMany({ where: { runId }, select: { index: true, globalBestUtility: true } }),
  ]);
  const devAt = new Map(iterations.map((row) => [row.index, row.globalBestUtility]));
  return tests
    .filter((test) => devAt.has(test.iteration))
    .map((test) => ({ iteration: test.iteration, role: test.role as "starting_best" | "ending_best", dev: devAt.get(test.iteration)!, test: test.utility, gap: devAt.get(test.iteration)! - test.utility }))
    .sort((a, b) => a.iteration - b.iteration || (a.role === "starting_best" ? -1 : 1));
}

export interface ParetoAxis {
  key: string;
  label: string;
  direction: Direction;
  /** A share of questions answered right: its axis is the whole 0–1. */
  accuracy: boolean;
}

export interface ParetoData {
  /** The objectives a candidate is measured on; fewer than two: the run's eval type has no front. */
  axes: ParetoAxis[];
  points: Array<{ iteration: number; candidate: number; label: string; utility: number; values: Record<string, number> }>;
  /** The global best's evaluation: the one the search chose. */
  best: { iteration: number; candidate: number } | null;
}

const LENGTH_AWARE_AXES: ParetoAxis[] = [
  { key: "accuracy", label: "accuracy", direction: "max", accuracy: true },
  { key: "mean_tokens", label: "mean generated tokens", direction: "min", accuracy: false },
];

/** length_aware's two objectives, from the stored answers of a score recorded before its metrics were. */
function lengthAwareValues(results: unknown): Record<string, number> {
  const answers = (results as QuestionResult[] | null) ?? [];
  if (answers.length === 0) return {};
  return { accuracy: answers.filter((answer) => answer.correct).length / answers.length, mean_tokens: answers.reduce((sum, answer) => sum + answer.tokens, 0) / answers.length };
}

/**
 * Every dev evaluation of a length_aware or multitask run, measured on its objectives: accuracy and mean generated
 * tokens, or each task's utility (the multitask's per-task metrics, as the evaluator named them).
 */
export async function paretoData(db: Db, runId: string): Promise<ParetoData> {
  const run = await findRun(db, runId);
  if (run.evalType !== "length_aware" && run.evalType !== "multitask") return { axes: [], points: [], best: null };
  const [measured, unmeasured, bests] = await Promise.all([
    db.candidateScore.findMany({ where: { runId, split: "dev", NOT: { metrics: { equals: Prisma.DbNull } } }, select: { iteration: true, candidate: true, utility: true, metrics: true } }),
    // Recorded before metrics were: length_aware's objectives are in the answers; a multitask's per-task utilities are not.
    run.evalType === "length_aware" ? db.candidateScore.findMany({ where: { runId, split: "dev", metrics: { equals: Prisma.DbNull } }, select: { iteration: true, candidate: true, utility: true, results: true } }) : [],
    globalBests(db, runId),
  ]);
  const points = [
    ...measured.map(({ metrics, ...row }) => ({ ...row, values: metrics as Record<string, number> })),
    ...unmeasured.map(({ results, ...row }) => ({ ...row, values: lengthAwareValues(results) })),
  ]
    .sort((a, b) => a.iteration - b.iteration || a.candidate - b.candidate)
    .map((row) => ({ ...row, label: `${candidateLabel(row.candidate, run.candidateNames)} at iteration ${row.iteration}` }));
  const axes = run.evalType === "length_aware" ? LENGTH_AWARE_AXES : multitaskAxes(points);
  const last = bests.at(-1);
  return { axes, points, best: last ? { iteration: last.foundAt, candidate: last.candidate } : null };
}

/** A multitask's per-task utilities, named "<dataset>/<metric>" by the evaluator; each is better larger. */
function multitaskAxes(points: ParetoData["points"]): ParetoAxis[] {
  const keys = [...new Set(points.flatMap((point) => Object.keys(point.values)))].sort();
  return keys.map((key) => ({ key, label: key, direction: "max", accuracy: ACCURACY_METRICS.has(key.split("/").at(-1)!) }));
}
