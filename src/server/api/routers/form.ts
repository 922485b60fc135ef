import { z } from "zod";
import { datasetFile } from "../../../engine/catalog";
import { DatasetError } from "../../../engine/eval/datasets";
import { EvalConfigError, prepareParsedTask, splitSize } from "../../../engine/eval/evaluator";
import { multitaskComponents, type multitaskParams } from "../../../engine/eval/registry";
import { estimateEvaluationTime, evaluationSettingOf, evaluationWorkOf, searchBudget, type EstimateConfig, type EvaluationEstimate, type MeasuredEvaluation, type SearchBudget } from "../../../engine/search/budget";
import { dashboardSearchConfigSchema, flattenConfigIssues, type ConfigIssues, type SearchConfigField } from "../../../engine/search/config";
import { configFieldSpecs, evalTypeForms, formSections, mergeMethodForms } from "../../../engine/search/form-spec";
import { searchPresets } from "../../../engine/search/presets";
import { parseServerEnv } from "../../../env";
import { dashboardOutputRoot } from "../../paths";
import { isInsideRoots } from "../../readable-paths";
import { measuredEvaluations } from "../../search/eval-estimate";
import { estimateWallTime, type WallTimeEstimate } from "../../search/wall-time";
import { createTRPCRouter, publicProcedure } from "../trpc";
import { listExperts, outsideRoots, readableRoots } from "./catalog";

/*
 * The new-search form's side of the engine: the form's specs (fields, sections, merge methods, eval types,
 * presets) as plain JSON, and a check of the config the form stands for (its issues by field, and what it would
 * cost), so the browser draws and validates the form without loading the engine.
 */

/** What the check needs to know of the catalog. */
export interface FormCatalog {
  /** Why the dashboard does not read this dataset file for its clients, or null where it does. */
  datasetRefusal(file: string): string | null;
  expertCount(directory: string): number;
  /** The run store's earlier dev evaluations of the config's base model, device and kind of task. */
  measuredEvaluations(config: EstimateConfig): Promise<MeasuredEvaluation[]>;
}

/** Where clients may name datasets: the folders the dashboard reads, and the folders of DATASET_DIRS. */
function datasetRoots(roots: readonly string[]): string[] {
  return [...roots, ...parseServerEnv().datasetDirs];
}

export function datasetRefusal(file: string, roots: readonly string[]): string | null {
  const allowed = datasetRoots(roots);
  return isInsideRoots(file, allowed) ? null : `${file} is ${outsideRoots(allowed)}; DATASET_DIRS adds folders of datasets`;
}

type DashboardConfig = z.output<typeof dashboardSearchConfigSchema>;

/** Every dataset file a config names: its --dataset (the run pages show its questions), and a multitask's components'. */
function datasetFilesOf(config: DashboardConfig): Array<{ field: SearchConfigField; file: string }> {
  const components = config.evalType === "multitask" ? multitaskComponents(config.evalParams as z.output<typeof multitaskParams>, config.dataset) : [];
  return [{ field: "dataset", file: datasetFile(config.dataset) }, ...components.map((task) => ({ field: "evalParams" as const, file: datasetFile(task.dataset) }))];
}

/** The first dataset of `config` that the dashboard does not read for its clients, with the field naming it. */
export function refusedDatasetOf(config: DashboardConfig, refusal: (file: string) => string | null): { field: SearchConfigField; file: string; message: string } | null {
  for (const { field, file } of datasetFilesOf(config)) {
    const message = refusal(file);
    if (message) return { field, file, message };
  }
  return null;
}

/**
 * The dev and test sizes of the config's task, its datasets read as the search reads them; or the problem, on the
 * field to fix: the dataset (missing, not JSON, items that do not fit the eval type), or a multitask's parameters.
 */
function taskSizes(config: DashboardConfig, catalog: FormCatalog): { devSize: number; testSize: number } | { field: SearchConfigField; problem: string } {
  const refused = refusedDatasetOf(config, catalog.datasetRefusal);
  if (refused) return { field: refused.field, problem: refused.message };
  const multitask = config.evalType === "multitask";
  try {
    const task = prepareParsedTask({ evalType: config.evalType, dataset: multitask ? config.dataset : datasetFile(config.dataset), params: config.evalParams, only: config.onlyOneOrTwo });
    return { devSize: splitSize(task, "dev"), testSize: splitSize(task, "test") };
  } catch (error) {
    if (error instanceof DatasetError || error instanceof EvalConfigError) return { field: multitask ? "evalParams" : "dataset", problem: error.message };
    throw error;
  }
}

/** What the form's config costs, once it is valid: its evaluation budget, and the estimated time of one evaluation. */
export interface FormCost {
  budget: SearchBudget | null;
  estimate: EvaluationEstimate | null;
  /** The whole search's evaluation time on the chosen devices, once one evaluation is measured; warns of hours on a CPU. */
  wallTime: WallTimeEstimate | null;
}

/** The form's config: its issues by field and parameter, and, once it is valid, what it costs. */
export async function checkSearchForm(raw: unknown, catalog: FormCatalog): Promise<{ issues: ConfigIssues } & FormCost> {
  const parsed = dashboardSearchConfigSchema.safeParse(raw);
  if (!parsed.success) return { issues: flattenConfigIssues(parsed.error.issues), budget: null, estimate: null, wallTime: null };
  const config = parsed.data;
  const sizes = taskSizes(config, catalog);
  if ("problem" in sizes) return { issues: flattenConfigIssues([{ path: [sizes.field], message: sizes.problem }]), budget: null, estimate: null, wallTime: null };
  const expertCount = catalog.expertCount(config.initialExpertDirectory);
  const baseModelIdx = "base_model_idx" in config.mergeParams ? config.mergeParams.base_model_idx : null;
  const budget = expertCount > 0 ? searchBudget(config, { expertCount, baseModelIdx, ...sizes }) : null;
  const estimate = budget ? estimateEvaluationTime(evaluationWorkOf(config, budget.devQuestions), evaluationSettingOf(config), await catalog.measuredEvaluations(config)) : null;
  const wallTime = budget && estimate ? estimateWallTime(budget, estimate, config) : null;
  return { issues: { fields: {}, mergeParams: {}, evalParams: {} }, budget, estimate, wallTime };
}

function staticFormSpec() {
  return { fields: configFieldSpecs(), sections: formSections(), mergeMethods: mergeMethodForms(), evalTypes: evalTypeForms(), presets: searchPresets };
}
// Generated from the schemas once: they do not change while the server runs.
let generated: ReturnType<typeof staticFormSpec> | undefined;

export const formRouter = createTRPCRouter({
  /** Everything the form is drawn from; --output_root is the server's, shown in the equivalent CLI command. */
  spec: publicProcedure.query(() => ({ ...(generated ??= staticFormSpec()), outputRoot: dashboardOutputRoot() })),

  /** The config as the form assembles it, before it is complete: any object, checked field by field. */
  check: publicProcedure.input(z.record(z.string().max(64), z.unknown())).query(async ({ ctx, input }) => {
    const roots = await readableRoots(ctx.db);
    return checkSearchForm(input, {
      datasetRefusal: (file) => datasetRefusal(file, roots),
      expertCount: (directory) => listExperts(directory, roots).experts.length,
      measuredEvaluations: (config) => measuredEvaluations(ctx.db, config),
    });
  }),
});
