import path from "node:path";
import { estimateEvaluationTime, evaluationSettingOf, evaluationWorkOf, type EstimateConfig, type EvaluationEstimate, type MeasuredEvaluation } from "../../engine/search/budget";
import type { Db } from "../db/client";

/*
 * The estimated time of one evaluation, from the run store: the dev evaluations of earlier runs on the same base
 * model, evaluating device and kind of task (engine/search/budget.ts compares and scales them).
 */

/** Recent runs of the eval type looked through for ones of the same setting: the run list's own bound. */
const RUNS_SCANNED = 500;
/**
 * The latest runs whose evaluations are taken: the evaluator gets faster from one version of the product to the
 * next (issue #15's work is ten times faster), so old runs would price a search at yesterday's speed.
 */
const RUNS_MEASURED = 5;

interface StoredSetting {
  id: string;
  baseModel: unknown;
  gpus: unknown;
  distributed: unknown;
  scoring: unknown;
  maxNewTokens: unknown;
}

/** A stored config's setting, its missing fields (configs of older versions) taken at their defaults. */
function storedConfig(row: StoredSetting, evalType: string): EstimateConfig {
  return {
    baseModel: typeof row.baseModel === "string" ? row.baseModel : "./initial_experts/base",
    gpus: Array.isArray(row.gpus) ? (row.gpus as number[]) : "cpu",
    distributed: row.distributed === 1 ? 1 : 0,
    evalType,
    evalParams: { scoring: row.scoring, maxNewTokens: row.maxNewTokens },
  };
}

function sameSetting(a: EstimateConfig, b: EstimateConfig): boolean {
  const [one, other] = [evaluationSettingOf(a), evaluationSettingOf(b)];
  // The CLI and the dashboard name one model folder relatively or absolutely.
  return path.resolve(one.baseModel) === path.resolve(other.baseModel) && one.device === other.device && one.task === other.task;
}

/** The dev evaluations of the latest earlier runs of `config`'s setting, each with the work it did. */
export async function measuredEvaluations(db: Db, config: EstimateConfig): Promise<MeasuredEvaluation[]> {
  // Only the fields compared: a config can be large (prompt templates, multitask components).
  const runs = await db.$queryRaw<StoredSetting[]>`
    SELECT id, config->'baseModel' AS "baseModel", config->'gpus' AS gpus, config->'distributed' AS distributed,
           config->'evalParams'->'scoring' AS scoring, config->'evalParams'->'maxNewTokens' AS "maxNewTokens"
    FROM "Run" WHERE "evalType" = ${config.evalType} ORDER BY "createdAt" DESC LIMIT ${RUNS_SCANNED}`;
  const matching = runs.map((row) => ({ id: row.id, config: storedConfig(row, config.evalType) })).filter((run) => sameSetting(run.config, config));
  if (matching.length === 0) return [];
  // A question is one entry of an evaluation's per-question results, so the count is what was asked, not what was
  // configured. Every dev evaluation of a run asks the same questions: the count is read of one (the latest) per run,
  // since reading every evaluation's results would load each question's prediction on every keystroke in the form.
  const rows = await db.$queryRaw<Array<{ runId: string; evalMs: number; questions: number }>>`
    WITH asked AS (
      SELECT run.id, (SELECT jsonb_array_length(one.results) FROM "CandidateScore" one
                      WHERE one."runId" = run.id AND one.split = 'dev' AND jsonb_typeof(one.results) = 'array'
                      ORDER BY one.iteration DESC LIMIT 1) AS questions
      FROM unnest(${matching.map((run) => run.id)}::text[]) AS run(id))
    SELECT s."runId", s."evalMs", asked.questions FROM "CandidateScore" s JOIN asked ON asked.id = s."runId"
    WHERE s.split = 'dev' AND s."evalMs" IS NOT NULL AND asked.questions IS NOT NULL`;
  const measuredRuns = matching.filter((run) => rows.some((row) => row.runId === run.id)).slice(0, RUNS_MEASURED);
  return measuredRuns.flatMap((run) => {
    const { newTokens } = evaluationWorkOf(run.config, 0);
    return rows.filter((row) => row.runId === run.id).map((row) => ({ runId: run.id, ms: row.evalMs, questions: row.questions, newTokens }));
  });
}

/** About how long one evaluation of `devQuestions` dev questions takes under `config`, or that it is not measured yet. */
export async function estimateEvaluation(db: Db, config: EstimateConfig, devQuestions: number): Promise<EvaluationEstimate> {
  return estimateEvaluationTime(evaluationWorkOf(config, devQuestions), evaluationSettingOf(config), await measuredEvaluations(db, config));
}
