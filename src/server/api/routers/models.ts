import fs from "node:fs";
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import type { HfModel } from "../../../engine/model/hf-model";
import type { Db } from "../../db/client";
import { classifyExpertFolders, type ExpertFit } from "../../models/expert-fit";
import { ExtractionRequestError, markInterruptedExtractions, startExtraction, type ExtractedExpert } from "../../models/extraction";
import { ensureZooRegistered, markInterruptedBuilds, ModelRegistrationError, readModelFolder, rebuildModel, registerModel, ZOO } from "../../models/registry";
import { dataDir, modelCacheRoot } from "../../paths";
import { createTRPCRouter, publicProcedure } from "../trpc";

/*
 * The Models page: registered Hugging Face base models (the bundled zoo among them, always), their decoder builds
 * and LoRA extractions with progress (the page polls while one runs), and which expert folders fit each. See
 * models/registry.ts and models/extraction.ts.
 */

const modelId = z.string().min(1).max(64);
const folderPath = z.string().trim().min(1, "expected a folder path").max(4096);

/** Registration and extraction problems are the user's to fix: BAD_REQUEST, the input they are about in data.field (trpc.ts). */
function asUserError(error: unknown): never {
  if (error instanceof ModelRegistrationError || error instanceof ExtractionRequestError) throw new TRPCError({ code: "BAD_REQUEST", message: error.message, cause: error });
  throw error;
}

async function listModels(db: Db) {
  await ensureZooRegistered(db, modelCacheRoot());
  await markInterruptedBuilds(db);
  await markInterruptedExtractions(db);
  const rows = await db.registeredModel.findMany({ orderBy: { createdAt: "asc" }, include: { extractions: { orderBy: { rank: "asc" } } } });
  // The zoo first, then the user's models in the order they were registered.
  rows.sort((a, b) => Number(b.folder === ZOO.folder) - Number(a.folder === ZOO.folder));
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    folder: row.folder,
    expertsFolder: row.expertsFolder,
    family: row.family,
    parameters: Number(row.parameters),
    dtypes: row.dtypes,
    weightBytes: Number(row.weightBytes),
    fileCount: row.fileCount,
    builtIn: row.folder === ZOO.folder,
    status: row.status,
    progress: row.status === "building" && row.progressPhase ? { phase: row.progressPhase, done: row.progressDone, total: row.progressTotal } : null,
    decoderPath: row.decoderPath,
    errorText: row.errorText,
    extractions: row.extractions.map((extraction) => ({
      id: extraction.id,
      rank: extraction.rank,
      folder: extraction.folder,
      status: extraction.status,
      progress: extraction.status === "running" && extraction.progressPhase ? { phase: extraction.progressPhase, done: extraction.progressDone, total: extraction.progressTotal } : null,
      experts: extraction.experts as unknown as ExtractedExpert[] | null,
      errorText: extraction.errorText,
    })),
  }));
}

async function findModel(db: Db, id: string) {
  const model = (await listModels(db)).find((entry) => entry.id === id);
  if (!model) throw new TRPCError({ code: "NOT_FOUND", message: `no registered model ${id}` });
  return model;
}

export const modelsRouter = createTRPCRouter({
  list: publicProcedure.query(({ ctx }) => listModels(ctx.db)),

  register: publicProcedure.input(z.object({ folder: folderPath, expertsFolder: folderPath.nullish() })).mutation(async ({ ctx, input }) => {
    try {
      return { id: await registerModel(ctx.db, input, modelCacheRoot()) };
    } catch (error) {
      asUserError(error);
    }
  }),

  /** Forgets the registration; the model's folder and its cached decoder stay on disk. */
  remove: publicProcedure.input(z.object({ id: modelId })).mutation(async ({ ctx, input }) => {
    const model = await findModel(ctx.db, input.id);
    if (model.builtIn) throw new TRPCError({ code: "BAD_REQUEST", message: "the bundled zoo cannot be removed" });
    await ctx.db.registeredModel.deleteMany({ where: { id: input.id } });
    return { ok: true };
  }),

  rebuild: publicProcedure.input(z.object({ id: modelId })).mutation(async ({ ctx, input }) => {
    if (!(await rebuildModel(ctx.db, input.id, modelCacheRoot()))) throw new TRPCError({ code: "BAD_REQUEST", message: "only a model whose decoder build failed can be built again" });
    return { ok: true };
  }),

  /**
   * Starts extracting rank-`rank` LoRAs of the full fine-tunes in the model's experts folder, beside copies of its
   * PEFT experts, into a folder under DATA_DIR; the list shows its progress and, once ready, its report.
   */
  extract: publicProcedure.input(z.object({ id: modelId, rank: z.number() })).mutation(async ({ ctx, input }) => {
    const model = await findModel(ctx.db, input.id);
    try {
      return { id: await startExtraction(ctx.db, model, input.rank, dataDir()) };
    } catch (error) {
      asUserError(error);
    }
  }),

  /** The model's architecture read from its folder now, and each subfolder of its experts folder: fits, or why not. */
  detail: publicProcedure.input(z.object({ id: modelId })).query(async ({ ctx, input }) => {
    const model = await findModel(ctx.db, input.id);
    let read: HfModel;
    try {
      read = await readModelFolder(model.folder);
    } catch (error) {
      if (error instanceof ModelRegistrationError) return { model, spec: null, problem: error.message, chatTemplate: false, experts: [], expertsProblem: null };
      throw error;
    }
    let experts: ExpertFit[] = [];
    let expertsProblem: string | null = null;
    if (model.expertsFolder) {
      try {
        experts = await classifyExpertFolders(model.expertsFolder, read);
      } catch (error) {
        // The folder was there at registration; moved or removed since, it is said so rather than shown empty.
        expertsProblem = fs.existsSync(model.expertsFolder) ? (error as Error).message : `${model.expertsFolder}: no longer exists`;
      }
    }
    return { model, spec: read.spec, problem: null, chatTemplate: read.tokenizer.chatTemplate !== null, experts, expertsProblem };
  }),
});
