import { TRPCError, tracked } from "@trpc/server";
import { z, ZodError } from "zod";
import { dashboardSearchConfigSchema, flagOf, type SearchConfigField } from "../../../engine/search/config";
import { serverDatabaseUrl } from "../../../env";
import { dashboardOutputRoot } from "../../paths";
import { isInsideRoots } from "../../readable-paths";
import { runEventStream } from "../../events/stream";
import { taskParamPaths } from "../../../engine/eval/evaluator";
import { SearchSetupError } from "../../../engine/search/session";
import { orientationOfRun } from "../../search/global-best";
import { cancelRun, enqueueSearch, resumeRun } from "../../search/jobs";
import { databaseNow, isStale } from "../../search/run-lease";
import { activeTimes, listRuns, runFilterChoices, runListInputSchema } from "../../search/run-list";
import { settingsDiff } from "../../search/settings-diff";
import { deleteRun, notesSchema, setRunArchived, setRunNotes, setRunTags, tagsSchema } from "../../search/run-manage";
import { createTRPCRouter, publicProcedure } from "../trpc";
import { outsideRoots, readableRoots } from "./catalog";
import { datasetRefusal, refusedDatasetOf } from "./form";
import { bestResults, evaluationCurve, findRun, readRunLog, utilityAxisOf } from "./run-data";
import { correctnessOverTime, paretoData } from "./run-insight";

const runId = z.string().min(1).max(64);

/** Setup errors are the user's to fix: BAD_REQUEST, their field reaching the form as data.configIssues (see trpc.ts). */
function asUserError(error: unknown): never {
  if (error instanceof SearchSetupError) throw new TRPCError({ code: "BAD_REQUEST", message: error.message, cause: error });
  throw error;
}

function maxIterationOf(config: unknown): number | null {
  const value = (config as { maxIteration?: unknown } | null)?.maxIteration;
  return typeof value === "number" ? value : null;
}

export const runsRouter = createTRPCRouter({
  list: publicProcedure.input(runListInputSchema).query(({ ctx, input }) => listRuns(ctx.db, input)),

  filterChoices: publicProcedure.query(({ ctx }) => runFilterChoices(ctx.db)),

  setTags: publicProcedure.input(z.object({ id: runId, tags: tagsSchema })).mutation(async ({ ctx, input }) => {
    await findRun(ctx.db, input.id);
    return { tags: await setRunTags(ctx.db, input.id, input.tags) };
  }),

  setNotes: publicProcedure.input(z.object({ id: runId, notes: notesSchema })).mutation(async ({ ctx, input }) => {
    await findRun(ctx.db, input.id);
    await setRunNotes(ctx.db, input.id, input.notes);
    return { ok: true };
  }),

  setArchived: publicProcedure.input(z.object({ id: runId, archived: z.boolean() })).mutation(async ({ ctx, input }) => {
    await findRun(ctx.db, input.id);
    return { archivedAt: await setRunArchived(ctx.db, input.id, input.archived) };
  }),

  /** Removes the run's rows and its folder under the output root; a queued or running run is refused. */
  delete: publicProcedure.input(z.object({ id: runId })).mutation(async ({ ctx, input }) => {
    await findRun(ctx.db, input.id);
    try {
      return await deleteRun(ctx.db, serverDatabaseUrl(), input.id, dashboardOutputRoot());
    } catch (error) {
      asUserError(error);
    }
  }),

  get: publicProcedure.input(z.object({ id: runId })).query(async ({ ctx, input }) => {
    const run = await findRun(ctx.db, input.id);
    const [artifacts, tests, eventCount, now] = await Promise.all([
      ctx.db.artifact.findMany({ where: { runId: run.id }, orderBy: { kind: "asc" } }),
      ctx.db.candidateScore.findMany({
        where: { runId: run.id, split: "test" },
        orderBy: [{ iteration: "asc" }, { candidate: "asc" }],
        select: { role: true, candidate: true, iteration: true, utility: true },
      }),
      ctx.db.runEvent.count({ where: { runId: run.id } }),
      databaseNow(ctx.db),
    ]);
    const stale = isStale(run, now);
    const times = await activeTimes(ctx.db, [{ id: run.id, stale, heartbeatAt: run.heartbeatAt }]);
    return {
      ...run,
      stale,
      activeTime: times.get(run.id)!,
      maxIteration: maxIterationOf(run.config),
      utilityAxis: utilityAxisOf(run.evalType, (run.config as { evalParams?: unknown }).evalParams, run.dataset),
      artifacts: artifacts.map((artifact) => ({ kind: artifact.kind, sizeBytes: Number(artifact.sizeBytes), sha256: artifact.sha256, utility: artifact.utility })),
      tests,
      eventCount,
    };
  }),

  bestResults: publicProcedure.input(z.object({ id: runId })).query(({ ctx, input }) => bestResults(ctx.db, input.id)),
  correctnessOverTime: publicProcedure.input(z.object({ id: runId })).query(({ ctx, input }) => correctnessOverTime(ctx.db, input.id)),
  paretoData: publicProcedure.input(z.object({ id: runId })).query(({ ctx, input }) => paretoData(ctx.db, input.id)),

  log: publicProcedure
    .input(z.object({ id: runId, maxBytes: z.number().int().min(1024).max(1 << 20).default(64 * 1024) }))
    .query(async ({ ctx, input }) => {
      const run = await findRun(ctx.db, input.id);
      return readRunLog(run.outputDir, input.maxBytes);
    }),

  /**
   * Live events of one run over SSE. Each event is tracked by its database id: a reconnecting client sends the
   * last id it saw (httpSubscriptionLink does this itself) and continues right after it.
   */
  events: publicProcedure
    .input(z.object({ runId, lastEventId: z.string().regex(/^\d{1,20}$/, "expected an event id").nullish() }))
    .subscription(async function* ({ ctx, input, signal }) {
      await findRun(ctx.db, input.runId);
      for await (const event of runEventStream(ctx.db, input.runId, input.lastEventId, signal)) {
        yield tracked(event.id, event);
      }
    }),

  /** The client sends the search without --output_root (an extra key is refused): the server decides where runs go. */
  create: publicProcedure.input(dashboardSearchConfigSchema).mutation(async ({ ctx, input }) => {
    // What a search reads is named by the client: only inside the readable roots, or it would probe the disk.
    const roots = await readableRoots(ctx.db);
    const reads = { initialExpertDirectory: input.initialExpertDirectory, baseModel: input.baseModel } as const;
    const outside = Object.entries(reads).filter(([, target]) => !isInsideRoots(target, roots));
    const issues = outside.map(([field, target]) => ({ code: "custom" as const, path: [field], message: `${target} is ${outsideRoots(roots)}`, input: target }));
    for (const { param, path } of taskParamPaths(input.evalType, input.evalParams)) {
      if (!isInsideRoots(path, roots)) issues.push({ code: "custom", path: ["evalParams", param], message: `${param}: ${path} is ${outsideRoots(roots)}`, input: path });
    }
    const dataset = refusedDatasetOf(input, (file) => datasetRefusal(file, roots));
    if (dataset) issues.push({ code: "custom", path: [dataset.field], message: dataset.message, input: dataset.file });
    if (issues.length > 0) {
      const message = issues.map((issue) => `${flagOf(issue.path[0] as SearchConfigField).flag}: ${issue.message}`).join("; ");
      throw new TRPCError({ code: "BAD_REQUEST", message, cause: new ZodError(issues) });
    }
    try {
      const { runId } = await enqueueSearch(ctx.db, serverDatabaseUrl(), { ...input, outputRoot: dashboardOutputRoot() }, "ui");
      return { runId };
    } catch (error) {
      asUserError(error);
    }
  }),

  cancel: publicProcedure.input(z.object({ id: runId })).mutation(async ({ ctx, input }) => {
    await findRun(ctx.db, input.id);
    try {
      await cancelRun(ctx.db, input.id);
      return { ok: true };
    } catch (error) {
      asUserError(error);
    }
  }),

  resume: publicProcedure.input(z.object({ id: runId })).mutation(async ({ ctx, input }) => {
    await findRun(ctx.db, input.id);
    try {
      await resumeRun(ctx.db, serverDatabaseUrl(), input.id);
      return { ok: true };
    } catch (error) {
      asUserError(error);
    }
  }),

  /** The compare page's settings diff of 2–4 runs, compared as parsed values, with the derived mode and population size. */
  settingsDiff: publicProcedure.input(z.object({ ids: z.array(runId).min(1).max(4) })).query(async ({ ctx, input }) => {
    const runs = await Promise.all(input.ids.map((id) => findRun(ctx.db, id)));
    // The population is what the run evaluated first: iteration 0 scores every candidate once.
    const initial = await ctx.db.candidateScore.groupBy({ by: ["runId"], where: { runId: { in: input.ids }, split: "dev", iteration: 0 }, _count: { _all: true } });
    const populationByRun = new Map(initial.map((entry) => [entry.runId, entry._count._all]));
    return settingsDiff(runs.map((run) => ({ config: run.config, populationSize: populationByRun.get(run.id) ?? null })));
  }),

  /**
   * Everything the compare page shows for 2–4 runs: best-so-far curves over candidate evaluations, metrics,
   * configs, best candidates' answers.
   */
  compare: publicProcedure.input(z.object({ ids: z.array(runId).min(1).max(4) })).query(async ({ ctx, input }) => {
    return Promise.all(
      input.ids.map(async (id) => {
        const run = await findRun(ctx.db, id);
        const iterations = await ctx.db.iteration.findMany({
          where: { runId: id },
          orderBy: { index: "asc" },
          select: { index: true, globalBestUtility: true, globalWorstUtility: true, evalMs: true, mergeMs: true },
        });
        const [best, curve] = await Promise.all([bestResults(ctx.db, id), evaluationCurve(ctx.db, id)]);
        const stale = isStale(run, await databaseNow(ctx.db));
        const times = await activeTimes(ctx.db, [{ id: run.id, stale, heartbeatAt: run.heartbeatAt }]);
        return {
          activeTime: times.get(run.id)!,
          id: run.id,
          name: run.name,
          status: run.status,
          mergeMethod: run.mergeMethod,
          dataset: run.dataset,
          evalType: run.evalType,
          utilityAxis: utilityAxisOf(run.evalType, (run.config as { evalParams?: unknown }).evalParams, run.dataset),
          orientation: orientationOfRun(run.evalType),
          config: run.config as Record<string, unknown>,
          startedAt: run.startedAt,
          finishedAt: run.finishedAt,
          startingBestValidationUtility: run.startingBestValidationUtility,
          startingBestSingleTestAccuracy: run.startingBestSingleTestAccuracy,
          endingBestValidationUtility: run.endingBestValidationUtility,
          endingBestSingleTestAccuracy: run.endingBestSingleTestAccuracy,
          iterations,
          curve,
          best: best.test ?? best.dev,
        };
      }),
    );
  }),
});
