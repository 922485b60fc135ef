import type { IterationRecord, SearchSink, TestRecord } from "../../engine/search/bwr";
import type { SearchConfig } from "../../engine/search/config";
import type { CandidateProvenance } from "../../engine/search/provenance";
import type { Orientation } from "../../engine/search/fitness";
import type { FinalMetrics, RunFolder } from "../../engine/search/run-folder";
import { parseRunEvent, type DeviceFigures, type RunEvent, type RunEventPayload, type RunStatus } from "../../shared/run-events";
import type { Db } from "../db/client";
import type { Prisma } from "../db/generated/client";
import { crashPoint } from "./crash-point";

/** The channel on which every committed run event is announced; the payload is `{"runId", "eventId"}`. */
export const RUN_EVENTS_CHANNEL = "run_events";

export type RunOrigin = RunEventPayload<"created">["origin"];

/*
 * Postgres's jsonb holds no U+0000, which a model's generated text can contain (a random or broken merge emits any
 * token): it is stored as U+FFFD, the replacement character, rather than failing the iteration's transaction.
 */
const json = (value: unknown) =>
  (value === undefined ? undefined : JSON.parse(JSON.stringify(value), (_, field: unknown) => (typeof field === "string" ? field.replaceAll("\u0000", "\ufffd") : field))) as Prisma.InputJsonValue;

/**
 * Each evaluation device's figures for one iteration, from the device each evaluation names: questions answered, busy
 * time (the candidates' shares of their batches' wall time), and the memory in use after its last batch.
 */
export function deviceFigures(evaluations: IterationRecord["evaluations"]): DeviceFigures[] {
  const byDevice = new Map<string, DeviceFigures & { ms: number }>();
  for (const { evaluation } of evaluations) {
    if (!evaluation.device) continue;
    const { host, name, memoryBytes } = evaluation.device;
    const key = JSON.stringify([host, name]);
    const figures = byDevice.get(key) ?? { host, name, questions: 0, busyMs: 0, questionsPerSecond: null, memoryBytes: null, ms: 0 };
    figures.questions += evaluation.results.length;
    figures.ms += evaluation.ms;
    if (memoryBytes !== null) figures.memoryBytes = Math.max(figures.memoryBytes ?? 0, memoryBytes);
    byDevice.set(key, figures);
  }
  return [...byDevice.values()].map(({ ms, ...figures }) => ({ ...figures, busyMs: Math.round(ms), questionsPerSecond: ms > 0 ? (figures.questions * 1000) / ms : null }));
}

/** The "iteration" event of one recorded iteration: what the run page charts. */
export function iterationEvent(record: IterationRecord): Extract<RunEvent, { type: "iteration" }> {
  return {
    type: "iteration",
    payload: {
      index: record.index,
      best: record.state.best,
      worst: record.state.worst,
      scores: record.state.scores,
      evaluated: record.evaluations.map(({ candidate }) => candidate),
      restarted: record.restarted,
      newBest: record.newBest,
      stepLength: record.state.stepLength,
      evalMs: Math.round(record.evalMs),
      mergeMs: Math.round(record.mergeMs),
      devices: deviceFigures(record.evaluations),
    },
  };
}

export function testEvent(record: TestRecord): Extract<RunEvent, { type: "test" }> {
  return { type: "test", payload: { role: record.role, candidate: record.candidate, utility: record.evaluation.utility } };
}

export function statusEvent(status: RunStatus, extra: Prisma.RunUpdateInput = {}): Extract<RunEvent, { type: "status" }> {
  return { type: "status", payload: { status, error: typeof extra.errorText === "string" ? extra.errorText : undefined } };
}

async function appendEvent(tx: Prisma.TransactionClient, runId: string, event: RunEvent) {
  // Checked here, inside the transaction: an event the run page could not read is never stored.
  const { type, payload } = parseRunEvent(event, `run ${runId}`);
  // One writer per run at a time, so a run's event ids commit in increasing order and a subscriber that
  // resumes after id N misses nothing.
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`run-events:${runId}`}))`;
  const row = await tx.runEvent.create({ data: { runId, type, payload: json(payload) } });
  // Delivered at commit, to every process listening (dashboards on other hosts included).
  await tx.$executeRaw`SELECT pg_notify(${RUN_EVENTS_CHANNEL}, ${JSON.stringify({ runId, eventId: row.id.toString() })})`;
  return row;
}

export async function createRun(db: Db, config: SearchConfig, origin: RunOrigin) {
  return db.$transaction(async (tx) => {
    const run = await tx.run.create({
      data: {
        name: config.name,
        origin,
        config: json(config),
        seed: config.seed,
        mergeMethod: config.mergeMethod,
        dataset: config.dataset,
        evalType: config.evalType,
        outputDir: null,
      },
    });
    await appendEvent(tx, run.id, { type: "created", payload: { name: run.name, origin } });
    return run;
  });
}

function provenanceRow(runId: string, iteration: number, { candidate, origin, selection, description, rejected }: CandidateProvenance): Prisma.CandidateProvenanceCreateManyInput {
  return {
    runId,
    iteration,
    candidate,
    kind: origin.kind,
    origin: json(origin),
    selection,
    recipe: description?.recipe ?? [],
    moduleDistances: description?.moduleDistances ?? [],
    rejectedRecipe: rejected?.recipe ?? [],
    rejectedModuleDistances: rejected?.moduleDistances ?? [],
  };
}

/** What the numbers of the run's candidate descriptions stand for: recipe weights by expert (and layer), or LoRA modules. */
export async function recordSearchSpace(db: Db, runId: string, space: { mode: "recipe" | "weights"; names: readonly string[]; layers: readonly number[] }) {
  const data = { mode: space.mode, names: [...space.names], layers: [...space.layers] };
  await db.runSearchSpace.upsert({ where: { runId }, create: { runId, ...data }, update: data });
}

/** Which expert each starting candidate is, so the run's charts can name their lines. */
export async function recordCandidateNames(db: Db, runId: string, names: readonly string[]) {
  await db.run.update({ where: { id: runId }, data: { candidateNames: [...names] } });
}

export async function lastIterationIndex(db: Db, runId: string): Promise<number | null> {
  const last = await db.iteration.findFirst({ where: { runId }, orderBy: { index: "desc" }, select: { index: true } });
  return last?.index ?? null;
}

/** How many of the starting test results (roles starting_best and starting, at iteration 0) are recorded. */
export async function startingTestsRecorded(db: Db, runId: string): Promise<number> {
  return db.candidateScore.count({ where: { runId, split: "test", iteration: 0, role: { in: ["starting_best", "starting"] } } });
}

const statusTimes = {
  queued: { finishedAt: null, errorText: null },
  running: () => ({ startedAt: new Date(), finishedAt: null, errorText: null }),
} as const;

export async function markRun(db: Db, runId: string, status: RunStatus, extra: Prisma.RunUpdateInput = {}) {
  await db.$transaction(async (tx) => {
    const times = status === "queued" ? statusTimes.queued : status === "running" ? statusTimes.running() : { finishedAt: new Date() };
    await tx.run.update({ where: { id: runId }, data: { status, ...times, ...extra } });
    await appendEvent(tx, runId, statusEvent(status, extra));
  });
}

export interface ArtifactRecord {
  kind: "global_best" | "global_worst";
  path: string;
  sizeBytes: number;
  sha256: string;
  utility: number;
}

/** The adapter a run left behind before it ended (its best so far when cancelled or failed); a later one replaces it. */
export async function recordArtifact(db: Db, runId: string, artifact: ArtifactRecord) {
  await db.artifact.upsert({
    where: { runId_kind: { runId, kind: artifact.kind } },
    create: { runId, ...artifact, sizeBytes: BigInt(artifact.sizeBytes) },
    update: { ...artifact, sizeBytes: BigInt(artifact.sizeBytes) },
  });
}

export async function finishRun(db: Db, runId: string, metrics: FinalMetrics, artifacts: ArtifactRecord[]) {
  await db.$transaction(async (tx) => {
    for (const artifact of artifacts) {
      await tx.artifact.upsert({
        where: { runId_kind: { runId, kind: artifact.kind } },
        create: { runId, ...artifact, sizeBytes: BigInt(artifact.sizeBytes) },
        update: { ...artifact, sizeBytes: BigInt(artifact.sizeBytes) },
      });
    }
    await tx.run.update({
      where: { id: runId },
      data: {
        status: "completed",
        finishedAt: new Date(),
        startingBestValidationUtility: metrics.starting_best_validation_utility,
        startingBestSingleTestAccuracy: metrics.starting_best_single_test_accuracy,
        endingBestValidationUtility: metrics.ending_best_validation_utility,
        endingBestSingleTestAccuracy: metrics.ending_best_single_test_accuracy,
      },
    });
    await appendEvent(tx, runId, { type: "status", payload: { status: "completed", metrics } });
  });
}

/**
 * The search's sink for a run in Postgres: each iteration's scores, timings and event land in one
 * transaction, after its resume snapshot is on disk; the run folder mirrors BWR_model's files.
 */
export class PrismaSearchSink implements SearchSink {
  constructor(
    private readonly db: Db,
    private readonly runId: string,
    private readonly folder: RunFolder,
    private readonly options: {
      onIteration?: (record: IterationRecord) => void;
      /** Aborted: the search stops after its current iteration, as when the run is cancelled. */
      stop?: AbortSignal;
      /** Throws when this process may no longer write the run (it lost its claim on it). */
      beforeWrite?: () => void;
      /** BWR_model's --to_visualize and --correctness_emergence files. */
      toVisualize?: boolean;
      correctnessEmergence?: boolean;
      /** −1 where the utility is minimised: each candidate's best is then its lowest. */
      orientation?: Orientation;
    } = {},
  ) {}

  async iteration(record: IterationRecord, population: readonly Float32Array[]) {
    this.options.beforeWrite?.();
    this.folder.saveSnapshot(record.index, record.state, population);
    this.folder.writeScratchpad(record.state, this.options.orientation);
    const candidates = record.state.scores.length;
    if (this.options.toVisualize) this.folder.recordTrajectory(record.index, population.slice(0, candidates));
    if (this.options.correctnessEmergence) {
      this.folder.recordCorrectness(record.index, candidates, record.evaluations.map(({ candidate, evaluation }) => ({ candidate, correct: evaluation.results.map((result) => result.correct) })));
    }
    await this.db.$transaction(async (tx) => {
      await tx.iteration.create({
        data: {
          runId: this.runId,
          index: record.index,
          globalBestUtility: record.state.best,
          globalWorstUtility: record.state.worst,
          startedAt: record.startedAt,
          finishedAt: record.finishedAt,
          mergeMs: Math.round(record.mergeMs),
          evalMs: Math.round(record.evalMs),
          devices: json(deviceFigures(record.evaluations)),
          bestCandidate: record.state.bestFound.candidate,
          bestIteration: record.state.bestFound.iteration,
        },
      });
      await tx.candidateScore.createMany({
        data: record.evaluations.map(({ candidate, evaluation }) => ({
          runId: this.runId,
          iteration: record.index,
          candidate,
          split: "dev" as const,
          utility: evaluation.utility,
          results: json(evaluation.results),
          metrics: json(evaluation.metrics),
          tokens: evaluation.tokens,
          evalMs: Math.round(evaluation.ms),
        })),
      });
      if (record.provenance) await tx.candidateProvenance.createMany({ data: record.provenance.map((entry) => provenanceRow(this.runId, record.index, entry)) });
      await appendEvent(tx, this.runId, iterationEvent(record));
    });
    crashPoint(`iteration-${record.index}`);
    this.options.onIteration?.(record);
  }

  async test(record: TestRecord) {
    const iteration = (await lastIterationIndex(this.db, this.runId)) ?? 0;
    const candidate = record.role === "ending_best" ? -1 : record.candidate;
    this.options.beforeWrite?.();
    const starting = record.role === "starting_best" || record.role === "starting";
    if (starting) crashPoint("starting-test");
    const at = starting ? 0 : iteration;
    await this.db.$transaction(async (tx) => {
      await tx.candidateScore.upsert({
        where: { runId_iteration_candidate_split: { runId: this.runId, iteration: at, candidate, split: "test" } },
        create: { runId: this.runId, iteration: at, candidate, split: "test", role: record.role, utility: record.evaluation.utility, results: json(record.evaluation.results), metrics: json(record.evaluation.metrics), tokens: record.evaluation.tokens },
        update: { role: record.role, utility: record.evaluation.utility, results: json(record.evaluation.results), metrics: json(record.evaluation.metrics), tokens: record.evaluation.tokens },
      });
      await appendEvent(tx, this.runId, testEvent(record));
    });
  }

  log(line: string) {
    this.folder.log(line);
  }

  async shouldStop() {
    if (this.options.stop?.aborted) return true;
    const run = await this.db.run.findUnique({ where: { id: this.runId }, select: { status: true } });
    return run?.status === "cancelled";
  }
}
