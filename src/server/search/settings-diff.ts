import { searchConfigSchema, searchMode, storedConfigInput } from "../../engine/search/config";

/*
 * The compare page's settings diff. Stored configs are compared as the search reads them, not as text: parsed by
 * the config schema (defaults filled in, parameters parsed by their own schemas) and written with sorted keys, so
 * key order, spacing and a default left implicit make no difference. Beside them, what the settings make of a
 * run that no single flag says: its mode and its population size.
 */

export interface SettingsDiffRow {
  key: string;
  /** Not a flag: what the run's settings (and experts) make of it. */
  derived: boolean;
  /** Each run's value as the page shows it, in the order of the runs. */
  shown: string[];
  differs: boolean;
}

export interface ComparedRun {
  config: unknown;
  /** The candidates the run evaluated first (its population); null before it evaluated any. */
  populationSize: number | null;
}

/** JSON with every object's keys in order. */
function canonicalJson(value: unknown): string {
  return (
    JSON.stringify(value, (_, inner: unknown) =>
      inner && typeof inner === "object" && !Array.isArray(inner) ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : 1))) : inner,
    ) ?? "undefined"
  );
}

/** A value written as JSON text (the CLI's --eval_params '{"maxNewTokens": 16}') is compared as what it says. */
function jsonTextAsValue(value: unknown): unknown {
  if (typeof value !== "string" || !/^\s*[[{]/.test(value)) return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

/** The config as the search reads it; one the schema refuses (an old or odd record) is compared as stored. */
function parsedConfig(stored: unknown): Record<string, unknown> {
  const raw = Object.fromEntries(Object.entries(storedConfigInput(stored)).map(([key, value]) => [key, jsonTextAsValue(value)]));
  const parsed = searchConfigSchema.safeParse(raw);
  return parsed.success ? (parsed.data as Record<string, unknown>) : raw;
}

function shownValue(value: unknown): string {
  if (value === undefined) return "—";
  return typeof value === "string" ? value : canonicalJson(value);
}

function modeOf(config: Record<string, unknown>): string {
  const { mode, mergeMethod, optimizer } = config;
  if (typeof mergeMethod !== "string" || (mode !== "auto" && mode !== "weights" && mode !== "recipe") || typeof optimizer !== "string") return "—";
  return searchMode({ mode, mergeMethod, optimizer } as Parameters<typeof searchMode>[0]);
}

function row(key: string, derived: boolean, values: unknown[]): SettingsDiffRow {
  return { key, derived, shown: values.map(shownValue), differs: new Set(values.map(canonicalJson)).size > 1 };
}

/** Every setting of the runs (derived ones first), each with whether the runs differ in it. */
export function settingsDiff(runs: readonly ComparedRun[]): SettingsDiffRow[] {
  const configs = runs.map((run) => parsedConfig(run.config));
  const keys = [...new Set(configs.flatMap((config) => Object.keys(config)))].sort();
  return [
    row(
      "mode",
      true,
      configs.map((config) => modeOf(config)),
    ),
    row(
      "population size",
      true,
      runs.map((run) => run.populationSize ?? undefined),
    ),
    ...keys.map((key) =>
      row(
        key,
        false,
        configs.map((config) => config[key]),
      ),
    ),
  ];
}
