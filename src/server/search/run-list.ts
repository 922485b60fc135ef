import { z } from "zod";
import { searchMode, type SearchConfig } from "../../engine/search/config";
import { activeTimeOf, type ActiveTime, type StatusMark } from "../../shared/active-time";
import { runStatuses } from "../../shared/run-events";
import type { Db } from "../db/client";
import type { Prisma } from "../db/generated/client";
import { orientationOfRun } from "./global-best";
import { databaseNow, isStale } from "./run-lease";

/*
 * The runs list: which runs the list shows (filters), in which order (sort), and what each row says. Filters and
 * order are applied before the limit, so the limit cuts the sorted, filtered list. Each run's best test is better
 * where higher for an accuracy and where lower for a perplexity: that sort orders orientation × value, so better
 * comes first within each orientation (a mixed list puts the maximised runs, positive keys, before the minimised).
 */

export const runSortFields = ["createdAt", "startedAt", "name", "status", "mergeMethod", "dataset", "bestTest"] as const;
export type RunSortField = (typeof runSortFields)[number];

const filterText = z.string().trim().min(1).max(200);

export const runListInputSchema = z
  .object({
    limit: z.number().int().min(1).max(500).default(100),
    sort: z.enum(runSortFields, { error: `expected one of ${runSortFields.join(", ")}` }).default("createdAt"),
    direction: z.enum(["asc", "desc"]).default("desc"),
    status: z.array(z.enum(runStatuses)).max(runStatuses.length).optional(),
    mergeMethod: filterText.optional(),
    dataset: filterText.optional(),
    tag: filterText.optional(),
    showArchived: z.boolean().default(false),
  })
  .default({ limit: 100, sort: "createdAt", direction: "desc", showArchived: false });
export type RunListInput = z.output<typeof runListInputSchema>;

const sortColumn: Record<Exclude<RunSortField, "bestTest">, keyof Prisma.RunOrderByWithRelationInput> = {
  createdAt: "createdAt",
  startedAt: "startedAt",
  name: "name",
  status: "status",
  mergeMethod: "mergeMethod",
  dataset: "dataset",
};

const nullableColumns = new Set<RunSortField>(["startedAt"]);

/**
 * The ids of the filtered runs by orientation × best test, `limit` of them: runs without one (no test yet) last,
 * ties newest first. Sorted here, as the orientation is the eval type's (the registry's), not a column.
 */
async function idsByBestTest(db: Db, where: Prisma.RunWhereInput, direction: "asc" | "desc", limit: number): Promise<string[]> {
  const runs = await db.run.findMany({ where, select: { id: true, evalType: true, endingBestSingleTestAccuracy: true, createdAt: true } });
  const keyOf = (run: (typeof runs)[number]) => (run.endingBestSingleTestAccuracy === null ? null : orientationOfRun(run.evalType) * run.endingBestSingleTestAccuracy);
  const byKey = (a: (typeof runs)[number], b: (typeof runs)[number]) => {
    const [keyA, keyB] = [keyOf(a), keyOf(b)];
    if (keyA !== keyB) {
      if (keyA === null) return 1;
      if (keyB === null) return -1;
      return direction === "asc" ? keyA - keyB : keyB - keyA;
    }
    return b.createdAt.getTime() - a.createdAt.getTime();
  };
  return runs.sort(byKey).slice(0, limit).map((run) => run.id);
}

/** Each run's status events in order, as the bounds of its executing segments. */
export async function statusMarks(db: Db, runIds: readonly string[]): Promise<Map<string, StatusMark[]>> {
  const rows = await db.runEvent.findMany({
    where: { runId: { in: [...runIds] }, type: "status" },
    orderBy: { id: "asc" },
    select: { runId: true, payload: true, createdAt: true },
  });
  const marks = new Map<string, StatusMark[]>(runIds.map((id) => [id, []]));
  for (const row of rows) marks.get(row.runId)!.push({ status: (row.payload as { status: StatusMark["status"] }).status, at: row.createdAt });
  return marks;
}

export async function activeTimes(db: Db, runs: ReadonlyArray<{ id: string; stale: boolean; heartbeatAt: Date | null }>): Promise<Map<string, ActiveTime>> {
  const marks = await statusMarks(
    db,
    runs.map((run) => run.id),
  );
  return new Map(runs.map((run) => [run.id, activeTimeOf(marks.get(run.id) ?? [], run)]));
}

function maxIterationOf(value: unknown): number | null {
  return typeof value === "number" ? value : null;
}

/** The mode a stored config ran in; null for a config too old or odd to tell. */
function modeOf(config: { mode: unknown; mergeMethod: unknown; optimizer: unknown }): "weights" | "recipe" | null {
  if (typeof config.mergeMethod !== "string") return null;
  const mode = config.mode ?? "auto";
  const optimizer = config.optimizer ?? "bwr";
  if (mode !== "auto" && mode !== "weights" && mode !== "recipe") return null;
  return searchMode({ mode, mergeMethod: config.mergeMethod, optimizer } as Pick<SearchConfig, "mode" | "mergeMethod" | "optimizer">);
}

export async function listRuns(db: Db, input: RunListInput) {
  const where: Prisma.RunWhereInput = {
    ...(input.status && input.status.length > 0 ? { status: { in: input.status } } : {}),
    ...(input.mergeMethod ? { mergeMethod: input.mergeMethod } : {}),
    ...(input.dataset ? { dataset: input.dataset } : {}),
    ...(input.tag ? { tags: { has: input.tag } } : {}),
    ...(input.showArchived ? {} : { archivedAt: null }),
  };
  const bestTestOrder = input.sort === "bestTest" ? await idsByBestTest(db, where, input.direction, input.limit) : null;
  const found = await db.run.findMany({
    where: bestTestOrder ? { id: { in: bestTestOrder } } : where,
    // Ties (and runs without the value: never started) keep the newest first.
    ...(input.sort !== "bestTest" && {
      orderBy: [{ [sortColumn[input.sort]]: nullableColumns.has(input.sort) ? { sort: input.direction, nulls: "last" } : input.direction }, { createdAt: "desc" }],
      take: input.limit,
    }),
    select: {
      id: true,
      name: true,
      status: true,
      origin: true,
      mergeMethod: true,
      dataset: true,
      evalType: true,
      createdAt: true,
      startedAt: true,
      finishedAt: true,
      heartbeatAt: true,
      tags: true,
      notes: true,
      archivedAt: true,
      endingBestValidationUtility: true,
      endingBestSingleTestAccuracy: true,
    },
  });
  const runs = bestTestOrder ? found.sort((a, b) => bestTestOrder.indexOf(a.id) - bestTestOrder.indexOf(b.id)) : found;
  const ids = runs.map((run) => run.id);
  const progress = await db.iteration.groupBy({ by: ["runId"], where: { runId: { in: ids } }, _max: { index: true } });
  // The global best so far is the last iteration's: the highest utility, or the lowest where lower is better.
  const latest = await db.iteration.findMany({
    where: { OR: progress.flatMap((row) => (row._max.index === null ? [] : [{ runId: row.runId, index: row._max.index }])) },
    select: { runId: true, globalBestUtility: true },
  });
  const bestSoFar = new Map(latest.map((row) => [row.runId, row.globalBestUtility]));
  // Only the few settings the list shows of each config: a config can be large, and the list reads up to 500.
  const settings = await db.$queryRaw<Array<{ id: string; maxIteration: unknown; mode: unknown; mergeMethod: unknown; optimizer: unknown }>>`
    SELECT id, config->'maxIteration' AS "maxIteration", config->'mode' AS mode, config->'mergeMethod' AS "mergeMethod", config->'optimizer' AS optimizer
    FROM "Run" WHERE id = ANY(${ids})`;
  const settingsByRun = new Map(settings.map((row) => [row.id, row]));
  const byRun = new Map(progress.map((row) => [row.runId, row._max]));
  const now = await databaseNow(db);
  const rows = runs.map((run) => ({ ...run, stale: isStale(run, now) }));
  const times = await activeTimes(db, rows);
  return rows.map((run) => {
    const stored = settingsByRun.get(run.id);
    return {
      ...run,
      mode: stored ? modeOf(stored) : null,
      activeTime: times.get(run.id)!,
      maxIteration: maxIterationOf(stored?.maxIteration),
      lastIteration: byRun.get(run.id)?.index ?? null,
      bestDevSoFar: run.endingBestValidationUtility ?? bestSoFar.get(run.id) ?? null,
    };
  });
}

/** The values the list's filters can take: those of the stored runs. */
export async function runFilterChoices(db: Db) {
  const [methods, datasets, tags] = await Promise.all([
    db.run.findMany({ distinct: ["mergeMethod"], select: { mergeMethod: true }, orderBy: { mergeMethod: "asc" } }),
    db.run.findMany({ distinct: ["dataset"], select: { dataset: true }, orderBy: { dataset: "asc" } }),
    db.$queryRaw<Array<{ tag: string }>>`SELECT DISTINCT unnest(tags) AS tag FROM "Run" ORDER BY tag`,
  ]);
  return { mergeMethods: methods.map((row) => row.mergeMethod), datasets: datasets.map((row) => row.dataset), tags: tags.map((row) => row.tag) };
}
