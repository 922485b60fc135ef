import { z } from "zod";
import { searchBudget, type SearchBudget } from "../../../engine/search/budget";
import { dashboardSearchConfigSchema, flattenConfigIssues, type ConfigIssues } from "../../../engine/search/config";
import { configFieldSpecs, evalTypeForms, formSections, mergeMethodForms } from "../../../engine/search/form-spec";
import { searchPresets } from "../../../engine/search/presets";
import { listDatasets } from "../../../engine/catalog";
import { dashboardOutputRoot } from "../../paths";
import { createTRPCRouter, publicProcedure } from "../trpc";
import { listExperts, readableRoots } from "./catalog";

/*
 * The new-search form's side of the engine: the form's specs (fields, sections, merge methods, eval types,
 * presets) as plain JSON, and a check of the config the form stands for (its issues by field, and what it would
 * cost), so the browser draws and validates the form without loading the engine.
 */

/** What the check needs to know of the catalog. */
export interface FormCatalog {
  datasets: readonly { name: string; devSize: number; testSize: number }[];
  expertCount(directory: string): number;
}

/** The form's config: its issues by field and parameter, and, once it is valid, its evaluation budget. */
export function checkSearchForm(raw: unknown, catalog: FormCatalog): { issues: ConfigIssues; budget: SearchBudget | null } {
  const parsed = dashboardSearchConfigSchema.safeParse(raw);
  if (!parsed.success) return { issues: flattenConfigIssues(parsed.error.issues), budget: null };
  const config = parsed.data;
  const dataset = catalog.datasets.find((entry) => entry.name === config.dataset);
  const expertCount = catalog.expertCount(config.initialExpertDirectory);
  const baseModelIdx = "base_model_idx" in config.mergeParams ? config.mergeParams.base_model_idx : null;
  const budget = dataset !== undefined && expertCount > 0 ? searchBudget(config, { expertCount, baseModelIdx, devSize: dataset.devSize, testSize: dataset.testSize }) : null;
  return { issues: { fields: {}, mergeParams: {}, evalParams: {} }, budget };
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
    return checkSearchForm(input, { datasets: listDatasets(), expertCount: (directory) => listExperts(directory, roots).experts.length });
  }),
});
