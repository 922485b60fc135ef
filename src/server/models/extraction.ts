import fs from "node:fs";
import path from "node:path";
import { classifyExperts, ExpertsImportError, importExperts, type ImportedExperts } from "../../engine/model/experts-import";
import { checkExtractionRank, ExtractionError } from "../../engine/model/extract-lora";
import type { ImportProgress } from "../../engine/model/import";
import type { Db } from "../db/client";
import { Prisma } from "../db/generated/client";
import { JOB_HEARTBEAT_MS, JOB_LEASE_MS, ModelRegistrationError, readModelFolder } from "./registry";

/*
 * LoRA experts extracted on the Models page from the full fine-tunes in a registered model's experts folder: the
 * import's `--experts FOLDER --extract-rank R`, run as a background job of the dashboard's server, the decoder
 * build's way (progress and heartbeat in the row; a job whose server stopped is marked failed by the next lister and
 * can be started again). Everything a request can get wrong is checked before the job starts, so its refusal is the
 * request's answer. The job writes into DATA_DIR/experts, never into the user's folders; once ready, that folder is
 * one the form reads (catalog.ts's readableRoots).
 */

export const INTERRUPTED_EXTRACTION = "the extraction was interrupted (the server running it stopped); extract again";

/** An extraction request the user must fix; `field` is the input it is about (rank), null when it is the folders'. */
export class ExtractionRequestError extends Error {
  override name = "ExtractionRequestError";
  constructor(
    readonly field: "rank" | null,
    message: string,
  ) {
    super(message);
  }
}

/** One expert of an extracted folder as the Models page reports it, from its extraction.json when it was extracted. */
export interface ExtractedExpert {
  name: string;
  kind: "lora" | "finetune";
  /** the overall relative reconstruction error of the extracted LoRA; null for a copied PEFT expert */
  relativeError: number | null;
  worstModule: { name: string; relativeError: number } | null;
  /** tensors the fine-tune changed that a LoRA cannot carry, with ||W_ft - W_base|| / ||W_base|| */
  notCarried: Array<{ name: string; relativeNorm: number }>;
}

/** DATA_DIR/experts/<model name>-<id>-r<rank>; a name like the hub's org/name keeps only characters a folder name takes. */
export function extractionFolder(dataDir: string, model: { id: string; name: string }, rank: number): string {
  const name = model.name.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^\.+/, "");
  return path.join(dataDir, "experts", `${name}-${model.id}-r${rank}`);
}

function reportOf(experts: ImportedExperts["experts"]): ExtractedExpert[] {
  return experts.map(({ name, kind, extraction }) => {
    if (!extraction) return { name, kind, relativeError: null, worstModule: null, notCarried: [] };
    const worst = extraction.modules.reduce((most, module) => (module.relativeError > most.relativeError ? module : most));
    return { name, kind, relativeError: extraction.relativeError, worstModule: { name: worst.name, relativeError: worst.relativeError }, notCarried: extraction.notCarried };
  });
}

/** Extractions are rows that stopped beating: their process is gone, so they fail with the line that says so. */
export async function markInterruptedExtractions(db: Db): Promise<void> {
  const leaseSeconds = JOB_LEASE_MS / 1000;
  await db.$executeRaw`
    UPDATE "ExpertExtraction" SET status = 'failed', "errorText" = ${INTERRUPTED_EXTRACTION}, "updatedAt" = now()
    WHERE status = 'running' AND ("heartbeatAt" IS NULL OR "heartbeatAt" < now() - make_interval(secs => ${leaseSeconds}))`;
}

interface ModelRow {
  id: string;
  name: string;
  folder: string;
  expertsFolder: string | null;
}

/** Checks what the job would refuse: an experts folder with a fine-tune of the base to extract, and the rank. */
async function checkRequest(model: ModelRow, rank: number): Promise<string> {
  const { expertsFolder } = model;
  if (!expertsFolder) throw new ExtractionRequestError(null, "this model was registered without an experts folder: there is nothing to extract");
  try {
    const base = await readModelFolder(model.folder);
    const candidates = await classifyExperts(base, expertsFolder);
    if (!candidates.some((candidate) => candidate.kind === "finetune" && candidate.problem === null))
      throw new ExtractionRequestError(null, `${expertsFolder} holds no full fine-tune of this model to extract a LoRA from`);
    checkExtractionRank(base, rank);
  } catch (error) {
    if (error instanceof ExtractionError) throw new ExtractionRequestError(error.option === "rank" ? "rank" : null, error.message);
    if (error instanceof ModelRegistrationError || error instanceof ExpertsImportError) throw new ExtractionRequestError(null, error.message);
    throw error;
  }
  return expertsFolder;
}

/**
 * Starts extracting `model`'s fine-tunes at `rank` in this process; returns the extraction's id. Refused while another
 * extraction of the model runs, and at a rank already extracted; a failed one at that rank starts again.
 */
export async function startExtraction(db: Db, model: ModelRow, rank: number, dataDir: string): Promise<string> {
  const expertsFolder = await checkRequest(model, rank);
  await markInterruptedExtractions(db);
  const out = extractionFolder(dataDir, model, rank);
  // The model's row is locked while one extraction is claimed: two requests at once cannot both see none running.
  const id = await db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT id FROM "RegisteredModel" WHERE id = ${model.id} FOR UPDATE`;
    const running = await tx.expertExtraction.findFirst({ where: { modelId: model.id, status: "running" }, select: { rank: true } });
    if (running) throw new ExtractionRequestError(null, `an extraction of this model (rank ${running.rank}) is running: wait for it to end`);
    const existing = await tx.expertExtraction.findUnique({ where: { modelId_rank: { modelId: model.id, rank } } });
    if (existing?.status === "ready") throw new ExtractionRequestError("rank", `rank ${rank} is extracted already, into ${existing.folder}`);
    const fresh = { status: "running" as const, folder: out, progressPhase: null, progressDone: 0, progressTotal: 0, experts: Prisma.DbNull, errorText: null };
    const row = existing ? await tx.expertExtraction.update({ where: { id: existing.id }, data: fresh }) : await tx.expertExtraction.create({ data: { ...fresh, modelId: model.id, rank } });
    // Its first beat in the same transaction (database time): no lister ever sees it running without one.
    await tx.$executeRaw`UPDATE "ExpertExtraction" SET "heartbeatAt" = now() WHERE id = ${row.id}`;
    return row.id;
  });
  void extractInBackground(db, id, { base: model.folder, expertsFolder, rank, out });
  return id;
}

/**
 * One extraction, in this process. Every write names the row by id and `running`: a row removed with its model (or
 * marked interrupted) meanwhile is left as it is.
 */
async function extractInBackground(db: Db, id: string, job: { base: string; expertsFolder: string; rank: number; out: string }): Promise<void> {
  let writes: Promise<unknown> = Promise.resolve();
  const write = (work: () => Promise<unknown>) => (writes = writes.then(work).catch(() => {}));
  const heartbeat = setInterval(() => write(() => db.$executeRaw`UPDATE "ExpertExtraction" SET "heartbeatAt" = now() WHERE id = ${id} AND status = 'running'`), JOB_HEARTBEAT_MS);
  heartbeat.unref?.();
  const onProgress = ({ phase, done, total }: ImportProgress) =>
    write(() => db.expertExtraction.updateMany({ where: { id, status: "running" }, data: { progressPhase: phase, progressDone: done, progressTotal: total } }));
  try {
    const { experts } = await importExperts(job.base, job.expertsFolder, { extractRank: job.rank, out: job.out, onProgress });
    await writes;
    await db.expertExtraction.updateMany({ where: { id, status: "running" }, data: { status: "ready", experts: reportOf(experts) as unknown as Prisma.InputJsonValue, errorText: null } });
  } catch (error) {
    await writes;
    // A failed job leaves no half-written folder under DATA_DIR that could pass for experts.
    fs.rmSync(job.out, { recursive: true, force: true });
    await db.expertExtraction.updateMany({ where: { id, status: "running" }, data: { status: "failed", errorText: (error as Error).message } }).catch(() => {});
  } finally {
    clearInterval(heartbeat);
  }
}
