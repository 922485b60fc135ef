import path from "node:path";
import { z } from "zod";
import { expertsIn, listDatasets, type ExpertInfo } from "../../../engine/catalog";
import type { Db } from "../../db/client";
import { dashboardOutputRoot } from "../../paths";
import { isInsideRoots } from "../../readable-paths";
import { deviceInventory } from "../../devices";
import { createTRPCRouter, publicProcedure } from "../trpc";

/*
 * What the new-search form offers: expert folders (PEFT adapters) with what each adapts, the datasets in
 * data/eval with their split sizes, and this machine's devices. Read from the filesystem each time, so a
 * folder dropped into initial_experts/ shows up without a restart.
 */

const DEFAULT_EXPERT_DIRECTORY = "./initial_experts";

/**
 * Where the dashboard reads experts, base models and datasets for its clients: the checkout (the bundled zoo and
 * data/ among it), the output root (earlier runs' adapters), the folders of registered experts, the folders
 * (model and experts) of registered models, and the experts extracted for them.
 */
export async function readableRoots(db: Db): Promise<string[]> {
  const registered = await db.expert.findMany({ select: { folder: true } }).catch(() => []);
  const models = await db.registeredModel.findMany({ select: { folder: true, expertsFolder: true } }).catch(() => []);
  const modelFolders = models.flatMap(({ folder, expertsFolder }) => (expertsFolder ? [folder, expertsFolder] : [folder]));
  const extracted = await db.expertExtraction.findMany({ where: { status: "ready" }, select: { folder: true } }).catch(() => []);
  return [process.cwd(), dashboardOutputRoot(), ...registered.map(({ folder }) => path.dirname(path.resolve(folder))), ...modelFolders, ...extracted.map(({ folder }) => folder)];
}

export interface ExpertListing {
  directory: string;
  exists: boolean;
  experts: ExpertInfo[];
  /** Why the folder was not read (outside the readable roots); null when it was. */
  refused: string | null;
}

/** The PEFT folders (with adapter_config.json) directly inside `directory`, as the search reads them, if it lies within `roots`. */
export function listExperts(directory: string, roots: readonly string[]): ExpertListing {
  if (!isInsideRoots(directory, roots)) return { directory, exists: false, experts: [], refused: outsideRoots(roots) };
  return { directory, ...expertsIn(directory), refused: null };
}

export function outsideRoots(roots: readonly string[]): string {
  return `outside the folders this dashboard reads (${[...new Set(roots)].join(", ")})`;
}

export const catalogRouter = createTRPCRouter({
  /** Folders that hold experts: the bundled zoo, plus the folders of registered experts. */
  expertDirectories: publicProcedure.query(async ({ ctx }) => {
    const registered = await ctx.db.expert.findMany({ select: { folder: true } }).catch(() => []);
    const folders = new Set<string>([DEFAULT_EXPERT_DIRECTORY]);
    for (const { folder } of registered) folders.add(path.dirname(folder));
    const roots = await readableRoots(ctx.db);
    return [...folders].map((directory) => ({ directory, count: listExperts(directory, roots).experts.length }));
  }),

  experts: publicProcedure
    .input(z.object({ directory: z.string().min(1).max(4096).default(DEFAULT_EXPERT_DIRECTORY) }))
    .query(async ({ ctx, input }) => listExperts(input.directory, await readableRoots(ctx.db))),

  datasets: publicProcedure.query(() => listDatasets()),

  /** The same inventory `--gpus` is checked against: a GPU offered here (and not marked unusable) is accepted. */
  devices: publicProcedure.query(() => deviceInventory()),
});
