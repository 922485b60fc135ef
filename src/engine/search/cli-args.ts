import type { z } from "zod";
import { describeConfigIssues, flagGroups, flagOf, searchConfigFields, searchConfigSchema, searchConfigShape, type FlagGroup, type SearchConfig, type SearchConfigField } from "./config";
import { findPreset, searchPresets, type SearchPreset } from "./presets";

export class CliUsageError extends Error {
  override name = "CliUsageError";
}

/** How a flag's text becomes its field's value, read from the schema itself. */
type Kind = "number" | "string" | "enum" | "object" | "numbers" | "devices";

/** The value kind behind defaults and optionals, read from the schema itself. */
function kindOf(schema: z.ZodType): { kind: Kind; defaultValue?: unknown; choices?: readonly unknown[] } {
  let current = schema as z.ZodType & { def: { type: string; innerType?: z.ZodType; defaultValue?: unknown; options?: z.ZodType[]; entries?: Record<string, unknown> } };
  let defaultValue: unknown;
  for (;;) {
    const def = current.def;
    if (def.type === "default") {
      defaultValue = def.defaultValue;
      current = def.innerType as typeof current;
    } else if (def.type === "optional") current = def.innerType as typeof current;
    else break;
  }
  const def = current.def as { type: string; options?: Array<{ def: { type: string; values?: unknown[] } }>; entries?: Record<string, unknown> };
  if (def.type === "number") return { kind: "number", defaultValue };
  if (def.type === "enum") return { kind: "enum", defaultValue, choices: Object.values(def.entries ?? {}) };
  if (def.type === "record") return { kind: "object", defaultValue };
  if (def.type === "tuple") return { kind: "numbers", defaultValue };
  // "cpu" or a list of ids; the other unions are of number literals (0 or 1).
  if (def.type === "union" && def.options?.some((option) => option.def.type === "array")) return { kind: "devices", defaultValue };
  if (def.type === "union") return { kind: "number", defaultValue, choices: def.options?.flatMap((option) => option.def.values ?? []) };
  return { kind: "string", defaultValue };
}

const byFlag = new Map<string, SearchConfigField>();
for (const field of searchConfigFields) {
  const meta = flagOf(field);
  byFlag.set(meta.flag, field);
  if (meta.short) byFlag.set(meta.short, field);
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

function suggestion(flag: string): string {
  const nearest = [...byFlag.keys()].filter((known) => known.startsWith("--")).sort((a, b) => editDistance(flag, a) - editDistance(flag, b))[0];
  return nearest && editDistance(flag, nearest) <= 3 ? ` (did you mean ${nearest}?)` : "";
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function decimal(flag: string, raw: string): number {
  // Number() would also read "0x1", "0b1", "Infinity" and " 1 " as numbers; flags take decimals only.
  if (!DECIMAL.test(raw)) throw new CliUsageError(`${flag}: expected a decimal number like 3, 0.5 or 1e-3, got "${raw}"`);
  return Number(raw);
}

const shown = (raw: string) => JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);

/** "cpu", or GPU ids as CUDA numbers them: "0,1". */
export function parseGpus(raw: string, flag = flagOf("gpus").flag): "cpu" | number[] {
  if (raw === "cpu") return "cpu";
  if (!/^\d+(,\d+)*$/.test(raw)) throw new CliUsageError(`${flag}: expected "cpu" or GPU ids like 0,1, got ${shown(raw)}`);
  return raw.split(",").map(Number);
}

/** The one place where a flag's text becomes a value; the schema then checks it like any other input. */
function coerce(field: SearchConfigField, raw: string): unknown {
  const { kind } = kindOf(searchConfigShape[field]);
  const { flag } = flagOf(field);
  switch (kind) {
    case "number":
      return decimal(flag, raw);
    case "devices":
      return parseGpus(raw, flag);
    case "numbers": {
      const parts = raw.split(",");
      if (parts.length !== 2) throw new CliUsageError(`${flag}: expected LOW,HIGH, e.g. 0,1.5, got ${shown(raw)}`);
      return parts.map((part) => decimal(flag, part));
    }
    case "object": {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        parsed = undefined;
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new CliUsageError(`${flag}: expected a JSON object, e.g. '{"density": 0.5}', got ${shown(raw)}`);
      return parsed;
    }
    default:
      return raw;
  }
}

/** Parses BWR_model-style arguments (`-n NAME --step_length 0.5 --merge_params '{...}'`) into a validated config; flags override a --preset's values. */
export function parseSearchArgs(argv: readonly string[]): SearchConfig {
  const values: Record<string, unknown> = {};
  let preset: SearchPreset | undefined;
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index]!;
    const [flag, inline] = argument.startsWith("--") && argument.includes("=") ? [argument.slice(0, argument.indexOf("=")), argument.slice(argument.indexOf("=") + 1)] : [argument, undefined];
    if (flag === "--preset") {
      const id = inline ?? argv[++index];
      preset = id === undefined ? undefined : findPreset(id);
      if (!preset) throw new CliUsageError(`--preset: expected one of ${searchPresets.map((known) => known.id).join(", ")}, got ${id === undefined ? "nothing" : `"${id}"`}`);
      continue;
    }
    const field = byFlag.get(flag);
    if (!field) {
      throw new CliUsageError(flag.startsWith("-") ? `unknown flag ${flag}${suggestion(flag)}; -h lists every flag` : `unexpected argument "${argument}"; -h lists every flag`);
    }
    const raw = inline ?? argv[++index];
    if (raw === undefined) throw new CliUsageError(`${flagOf(field).flag}: expected a value`);
    values[field] = coerce(field, raw);
  }
  const result = searchConfigSchema.safeParse({ ...preset?.config, ...values });
  if (!result.success) throw new CliUsageError(describeConfigIssues(result.error));
  return result.data;
}


/** A default as it would be typed after its flag: 0,1.5 for a pair, JSON for parameters. */
function flagText(value: unknown): string {
  return Array.isArray(value) ? value.join(",") : typeof value === "object" ? `'${JSON.stringify(value)}'` : JSON.stringify(value);
}

export function searchHelp(command = "npm run search --"): string {
  const lines = [
    `usage: ${command} -n NAME -e EVAL_TYPE -d DATASET [options]`,
    `       ${command} --preset PRESET -n NAME [options]   (the dashboard's presets: ${searchPresets.map((preset) => preset.id).join(", ")}; options override the preset)`,
    "",
  ];
  for (const group of Object.keys(flagGroups) as FlagGroup[]) {
    lines.push(`${flagGroups[group].title}:`);
    for (const field of searchConfigFields) {
      const meta = flagOf(field);
      if (meta.group !== group) continue;
      const { defaultValue, choices } = kindOf(searchConfigShape[field]);
      const names = meta.short ? `${meta.short}, ${meta.flag}` : `    ${meta.flag}`;
      const extra = [choices ? `one of ${choices.join(", ")}` : "", defaultValue !== undefined ? `default: ${flagText(defaultValue)}` : searchConfigShape[field].safeParse(undefined).success ? "" : "required"].filter(Boolean).join("; ");
      lines.push(`  ${names.padEnd(34)} ${meta.help}${extra ? ` (${extra})` : ""}`);
    }
    lines.push("");
  }
  return lines.join("\n");
}
