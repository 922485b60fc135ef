import fs from "node:fs";
import path from "node:path";
import { MODEL_CONFIG, ModelConfigError } from "../../engine/model/hf-config";
import { readHfModel, type HfModel } from "../../engine/model/hf-model";
import { TokenizerLoadError } from "../../engine/model/hf-tokenizer";
import { importModel, type ImportProgress } from "../../engine/model/import";
import { TensorFileError } from "../../engine/tensors/errors";
import { ADAPTER_CONFIG } from "../../engine/tensors/peft";
import type { Db } from "../db/client";
import { classifyExpertFolders } from "./expert-fit";
import { Prisma } from "../db/generated/client";

/*
 * Base models registered in the dashboard. Registering reads the folder first: a folder that cannot be read is the
 * user's one-line error and nothing is stored. What was read is stored with status "building", and this process
 * builds the decoder in the background into the model cache (shared with `npm run import` and searches), moving
 * the row's heartbeat while it works. A build whose process died (a server restart) stops beating: whoever lists
 * the models next marks it failed, and it can be built again. The rows only describe folders: removing one never
 * touches the model's files or the cache.
 */

/**
 * How often a process running a background job (a decoder build, an extraction) moves its heartbeat, and how long
 * without a beat the job counts as interrupted.
 */
export const JOB_HEARTBEAT_MS = 5_000;
export const JOB_LEASE_MS = 30_000;

export const INTERRUPTED_BUILD = "the decoder build was interrupted (the server building it stopped); build it again";

/** A registration the user must fix; `field` is the input it is about (folder or expertsFolder). */
export class ModelRegistrationError extends Error {
  override name = "ModelRegistrationError";
  constructor(
    readonly field: "folder" | "expertsFolder" | null,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The bundled zoo: registered like any model the first time the models are listed, so the page is never empty on a
 * fresh machine; it cannot be removed.
 */
export const ZOO = {
  name: "zoo base (bundled)",
  folder: path.resolve("initial_experts/base"),
  expertsFolder: path.resolve("initial_experts"),
};

interface ModelFacts {
  family: string;
  parameters: number;
  dtypes: string[];
  weightBytes: number;
  fileCount: number;
}

function factsOf(model: HfModel): ModelFacts {
  const files = new Set([...model.weights.values()].map((ref) => ref.file));
  return { family: model.spec.family, parameters: model.parameters, dtypes: model.dtypes, weightBytes: model.weightBytes, fileCount: files.size };
}

/** The model folder read as the importer reads it; its problems are the registration's one line about `folder`. */
export async function readModelFolder(folder: string): Promise<HfModel> {
  try {
    return await readHfModel(folder);
  } catch (error) {
    if (error instanceof ModelConfigError || error instanceof TokenizerLoadError || error instanceof TensorFileError) throw new ModelRegistrationError("folder", error.message);
    throw error;
  }
}

/** The folder is registered already (by this request's twin, or before). */
class AlreadyRegisteredError extends ModelRegistrationError {
  constructor(folder: string) {
    super("folder", `${folder} is registered already`);
  }
}

/**
 * A registered experts folder becomes one the dashboard reads, so it must be a folder of experts: one with no
 * subfolder holding an adapter or a model (a home folder, "/") would open everything under it to the form.
 */
function checkExpertsFolder(expertsFolder: string) {
  if (!fs.existsSync(expertsFolder)) throw new ModelRegistrationError("expertsFolder", `${expertsFolder} does not exist`);
  if (!fs.statSync(expertsFolder).isDirectory()) throw new ModelRegistrationError("expertsFolder", `${expertsFolder} is a file, not a folder`);
  const holdsExpert = fs
    .readdirSync(expertsFolder, { withFileTypes: true })
    .some((entry) => entry.isDirectory() && [ADAPTER_CONFIG, MODEL_CONFIG].some((file) => fs.existsSync(path.join(expertsFolder, entry.name, file))));
  if (!holdsExpert) throw new ModelRegistrationError("expertsFolder", `${expertsFolder} holds no expert: expected subfolders with ${ADAPTER_CONFIG} (PEFT LoRA adapters) or ${MODEL_CONFIG} (full fine-tunes)`);
}

/**
 * What the Models page calls a folder: its name, or for a snapshot in the Hugging Face hub's cache
 * (…/models--org--name/snapshots/<commit>) the hub's org/name, since the folder's own name is a commit hash.
 */
export function modelName(folder: string): string {
  const hub = /(?:^|\/)models--([^/]+?)--([^/]+)\/snapshots\/[^/]+$/.exec(folder);
  return hub ? `${hub[1]}/${hub[2]}` : path.basename(folder);
}

/** Reads `folder`, stores it as building and starts its decoder build here; returns the new row's id. */
export async function registerModel(db: Db, input: { folder: string; expertsFolder?: string | null; name?: string }, cacheRoot: string): Promise<string> {
  const folder = path.resolve(input.folder);
  const expertsFolder = input.expertsFolder ? path.resolve(input.expertsFolder) : null;
  if (await db.registeredModel.findUnique({ where: { folder }, select: { id: true } })) throw new AlreadyRegisteredError(folder);
  const model = await readModelFolder(folder);
  if (expertsFolder) checkExpertsFolder(expertsFolder);
  const facts = factsOf(model);
  const name = input.name ?? modelName(folder);
  const data = { name, folder, expertsFolder, ...facts, parameters: BigInt(facts.parameters), weightBytes: BigInt(facts.weightBytes), status: "building" as const };
  // Stored with its first beat (database time) in one transaction: no lister ever sees it building without one.
  const row = await db
    .$transaction(async (tx) => {
      const created = await tx.registeredModel.create({ data });
      await tx.$executeRaw`UPDATE "RegisteredModel" SET "heartbeatAt" = now() WHERE id = ${created.id}`;
      return created;
    })
    .catch((error: unknown) => {
      // Registered by another request meanwhile (two clicks): the same answer as when it was there before.
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002") throw new AlreadyRegisteredError(folder);
      throw error;
    });
  void buildInBackground(db, row.id, { folder, expertsFolder }, cacheRoot);
  return row.id;
}

let zooProblemLogged = false;

/**
 * Registers the bundled zoo unless it is (a concurrent first listing registering it too is no error). A zoo that
 * cannot be read (a checkout without it) is said once in the server's log and left out: the other models still list.
 */
export async function ensureZooRegistered(db: Db, cacheRoot: string): Promise<void> {
  if (await db.registeredModel.findUnique({ where: { folder: ZOO.folder }, select: { id: true } })) return;
  await registerModel(db, ZOO, cacheRoot).catch((error: unknown) => {
    if (error instanceof AlreadyRegisteredError) return;
    if (error instanceof ModelRegistrationError) {
      if (!zooProblemLogged) console.error(`models: the bundled zoo is not listed: ${error.message}`);
      zooProblemLogged = true;
      return;
    }
    throw error;
  });
}

/** Builds a failed (or interrupted) model's decoder again; false when it is building or ready already. */
export async function rebuildModel(db: Db, id: string, cacheRoot: string): Promise<boolean> {
  await markInterruptedBuilds(db);
  const claimed = await db.$executeRaw`
    UPDATE "RegisteredModel" SET status = 'building', "errorText" = NULL, "progressPhase" = NULL, "progressDone" = 0, "progressTotal" = 0, "heartbeatAt" = now(), "updatedAt" = now()
    WHERE id = ${id} AND status = 'failed'`;
  if (claimed === 0) return false;
  const row = await db.registeredModel.findUniqueOrThrow({ where: { id }, select: { folder: true, expertsFolder: true } });
  void buildInBackground(db, id, row, cacheRoot);
  return true;
}

/** Builds are rows that stopped beating: their process is gone, so they fail with the line that says so. */
export async function markInterruptedBuilds(db: Db): Promise<void> {
  const leaseSeconds = JOB_LEASE_MS / 1000;
  await db.$executeRaw`
    UPDATE "RegisteredModel" SET status = 'failed', "errorText" = ${INTERRUPTED_BUILD}, "updatedAt" = now()
    WHERE status = 'building' AND ("heartbeatAt" IS NULL OR "heartbeatAt" < now() - make_interval(secs => ${leaseSeconds}))`;
}

/**
 * The modules the experts that fit the model adapt: a search on its experts folder builds the decoder for exactly
 * those (the cache keys decoders by that set), so the one built here is the one it runs. Without experts that fit,
 * every module the builder knows.
 */
async function expertTargets(folder: string, expertsFolder: string | null): Promise<readonly string[] | undefined> {
  if (!expertsFolder) return undefined;
  const fits = await classifyExpertFolders(expertsFolder, folder).catch(() => []);
  const modules = new Set(fits.filter((expert) => expert.fits).flatMap((expert) => expert.modules));
  return modules.size > 0 ? [...modules] : undefined;
}

/**
 * The decoder build of one row, in this process. Every write names the row by id and `building`: a row removed (or
 * marked interrupted) meanwhile is left as it is.
 */
async function buildInBackground(db: Db, id: string, { folder, expertsFolder }: { folder: string; expertsFolder: string | null }, cacheRoot: string): Promise<void> {
  let writes: Promise<unknown> = Promise.resolve();
  const write = (work: () => Promise<unknown>) => (writes = writes.then(work).catch(() => {}));
  const heartbeat = setInterval(() => write(() => db.$executeRaw`UPDATE "RegisteredModel" SET "heartbeatAt" = now() WHERE id = ${id} AND status = 'building'`), JOB_HEARTBEAT_MS);
  heartbeat.unref?.();
  const onProgress = ({ phase, done, total }: ImportProgress) =>
    write(() => db.registeredModel.updateMany({ where: { id, status: "building" }, data: { progressPhase: phase, progressDone: done, progressTotal: total } }));
  try {
    const { decoders } = await importModel(folder, { cacheRoot, onProgress, loraTargets: await expertTargets(folder, expertsFolder) });
    await writes;
    await db.registeredModel.updateMany({ where: { id, status: "building" }, data: { status: "ready", decoderPath: path.dirname(decoders.fp32), errorText: null } });
  } catch (error) {
    await writes;
    await db.registeredModel.updateMany({ where: { id, status: "building" }, data: { status: "failed", errorText: (error as Error).message } }).catch(() => {});
  } finally {
    clearInterval(heartbeat);
  }
}
