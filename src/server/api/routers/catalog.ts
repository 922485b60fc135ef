import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { Db } from "../../db/client";
import { dashboardOutputRoot } from "../../paths";
import { isInsideRoots } from "../../readable-paths";
import { deviceInventory } from "../../devices";
import { createTRPCRouter, publicProcedure } from "../trpc";
import { readDatasetFile } from "./run-data";

/*
 * What the new-search form offers: expert folders (PEFT adapters) with what each adapts, the datasets in
 * data/eval with their split sizes, and this machine's devices. Read from the filesystem each time, so a
 * folder dropped into initial_experts/ shows up without a restart.
 */

const DEFAULT_EXPERT_DIRECTORY = "./initial_experts";

export interface ExpertInfo {
  name: string;
  folder: string;
  baseModel: string | null;
  rank: number | null;
  alpha: number | null;
  targetModules: string[];
  sizeBytes: number;
  problem: string | null;
}

function readExpert(folder: string): ExpertInfo {
  const info: ExpertInfo = { name: path.basename(folder), folder, baseModel: null, rank: null, alpha: null, targetModules: [], sizeBytes: 0, problem: null };
  try {
    const config = JSON.parse(fs.readFileSync(path.join(folder, "adapter_config.json"), "utf8")) as Record<string, unknown>;
    info.baseModel = typeof config.base_model_name_or_path === "string" ? config.base_model_name_or_path : null;
    info.rank = typeof config.r === "number" ? config.r : null;
    info.alpha = typeof config.lora_alpha === "number" ? config.lora_alpha : null;
    const modules = config.target_modules;
    info.targetModules = Array.isArray(modules) ? modules.map(String) : typeof modules === "string" ? [modules] : [];
  } catch (error) {
    info.problem = `adapter_config.json: ${(error as Error).message}`;
  }
  try {
    info.sizeBytes = fs.statSync(path.join(folder, "adapter_model.safetensors")).size;
  } catch {
    info.problem ??= "adapter_model.safetensors is missing";
  }
  return info;
}

/**
 * Where the dashboard reads experts, base models and datasets for its clients: the checkout (the bundled zoo and
 * data/ among it), the output root (earlier runs' adapters) and the folders of registered experts.
 */
export async function readableRoots(db: Db): Promise<string[]> {
  const registered = await db.expert.findMany({ select: { folder: true } }).catch(() => []);
  return [process.cwd(), dashboardOutputRoot(), ...registered.map(({ folder }) => path.dirname(path.resolve(folder)))];
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
  const resolved = path.resolve(directory);
  if (!fs.existsSync(resolved) || !fs.statSync(resolved).isDirectory()) return { directory, exists: false, experts: [], refused: null };
  const experts = fs
    .readdirSync(resolved, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(resolved, entry.name, "adapter_config.json")))
    .map((entry) => readExpert(path.join(resolved, entry.name)))
    .sort((a, b) => a.name.localeCompare(b.name));
  return { directory, exists: true, experts, refused: null };
}

export function outsideRoots(roots: readonly string[]): string {
  return `outside the folders this dashboard reads (${[...new Set(roots)].join(", ")})`;
}

export interface DatasetInfo {
  name: string;
  file: string;
  devSize: number;
  testSize: number;
  /** Items carry `choices`: scored by multiple_choice. */
  multipleChoice: boolean;
}

export function listDatasets(): DatasetInfo[] {
  const folder = path.resolve("data/eval");
  if (!fs.existsSync(folder)) return [];
  return fs
    .readdirSync(folder)
    .filter((file) => file.endsWith(".json"))
    .sort()
    .flatMap((file) => {
      try {
        const data = readDatasetFile(path.join(folder, file));
        const first = data.dev?.[0] ?? data.test?.[0];
        return [{ name: file.replace(/\.json$/, ""), file: path.join("data/eval", file), devSize: data.dev?.length ?? 0, testSize: data.test?.length ?? 0, multipleChoice: !!first && "choices" in first }];
      } catch {
        return [];
      }
    });
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
