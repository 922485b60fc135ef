import { z } from "zod";
import { dashboardConfigFields, dashboardSearchConfigSchema, flagOf, searchConfigFields, searchConfigShape, type FlagMeta, type SearchConfigField } from "@/engine/search/config";

/*
 * The new-search form is generated from the engine's zod schemas (search config, merge methods, eval types):
 * each field's widget, default, bounds and help come from the schema's JSON Schema, and the same schemas
 * validate the values in the browser before the server validates them again. Values are kept as the strings
 * the inputs hold; `toValue` turns them into what the schema expects.
 */

type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  pattern?: string;
};

export type FieldKind = "integer" | "number" | "string" | "enum" | "binary" | "boolean" | "json";

export interface FieldSpec {
  key: string;
  kind: FieldKind;
  options?: string[];
  /** The default as the input shows it ("" when the field has none). */
  defaultText: string;
  hasDefault: boolean;
  nullable: boolean;
  help: string;
  min?: number;
  max?: number;
}

function describeBounds(schema: JsonSchema): Pick<FieldSpec, "min" | "max"> {
  const max = schema.maximum ?? schema.exclusiveMaximum;
  return { min: schema.minimum ?? schema.exclusiveMinimum, max: max !== undefined && max < 1e15 ? max : undefined };
}

/** One field of a JSON Schema as a form widget. */
export function fieldSpecFromJsonSchema(key: string, schema: JsonSchema, help = schema.description ?? ""): FieldSpec {
  const hasDefault = "default" in schema;
  const base = { key, help, hasDefault, nullable: false };
  const variants = schema.anyOf ?? [schema];
  const nonNull = variants.filter((variant) => variant.type !== "null");
  const nullable = nonNull.length < variants.length;
  if (variants.length === 2 && variants.every((variant) => variant.const === 0 || variant.const === 1)) {
    return { ...base, kind: "binary", defaultText: String(schema.default ?? 0) };
  }
  const only = nonNull.length === 1 ? nonNull[0]! : undefined;
  const defaultText = !hasDefault ? "" : typeof schema.default === "string" ? schema.default : JSON.stringify(schema.default);
  if (only?.enum && !nullable) return { ...base, kind: "enum", options: only.enum.map(String), defaultText };
  if (only?.type === "boolean" && !nullable) return { ...base, kind: "boolean", defaultText: String(schema.default ?? false) };
  if ((only?.type === "integer" || only?.type === "number") && !nullable) return { ...base, kind: only.type, defaultText, ...describeBounds(only) };
  if (only?.type === "string" && !nullable) return { ...base, kind: "string", defaultText };
  // Arrays, nullable numbers and anything else: a JSON value ("null", "[1, 0.5]").
  // A JSON value or one of the words the field also takes ("cpu").
  const words = nonNull.flatMap((variant) => (typeof variant.const === "string" ? [variant.const] : []));
  return { ...base, kind: "json", defaultText, nullable, ...(words.length ? { options: words } : {}), ...(only ? describeBounds(only) : {}) };
}

/** The widget of each search-config field, with its BWR_model flag and help. */
export const configFieldSpecs: Record<SearchConfigField, FieldSpec & { flag: FlagMeta }> = Object.fromEntries(
  searchConfigFields.map((field) => {
    const json = z.toJSONSchema(searchConfigShape[field], { io: "input", unrepresentable: "any" }) as JsonSchema;
    const flag = flagOf(field);
    return [field, { ...fieldSpecFromJsonSchema(field, json, flag.help), flag }];
  }),
) as Record<SearchConfigField, FieldSpec & { flag: FlagMeta }>;

/** The widgets of an object schema's properties (a merge method's or an eval type's parameters). */
export function objectFieldSpecs(schema: z.ZodType): FieldSpec[] {
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  return Object.entries(json.properties ?? {}).map(([key, property]) => fieldSpecFromJsonSchema(key, property));
}

export class FieldValueError extends Error {}

/** The value an input's text stands for; undefined leaves the field out (its default applies). */
export function toValue(spec: FieldSpec, text: string): unknown {
  const trimmed = text.trim();
  switch (spec.kind) {
    case "binary":
      return Number(trimmed || spec.defaultText);
    case "boolean":
      return trimmed === "true";
    case "enum":
      return trimmed === "" ? undefined : trimmed;
    case "string":
      return text === "" && spec.hasDefault ? undefined : text;
    case "integer":
    case "number": {
      if (trimmed === "") return undefined;
      const value = Number(trimmed);
      if (!Number.isFinite(value)) throw new FieldValueError(`expected a number, got "${trimmed}"`);
      return value;
    }
    case "json": {
      if (trimmed === "") return undefined;
      if (spec.options?.includes(trimmed)) return trimmed;
      const text = /^[-\d.]/.test(trimmed) && trimmed.includes(",") && !trimmed.startsWith("[") ? `[${trimmed}]` : trimmed;
      try {
        return JSON.parse(text);
      } catch {
        throw new FieldValueError(`expected a JSON value such as ${spec.nullable ? "null, 0" : "[1, 0.5]"}, got "${trimmed}"`);
      }
    }
  }
}

export function defaultTexts(specs: FieldSpec[]): Record<string, string> {
  return Object.fromEntries(specs.map((spec) => [spec.key, spec.defaultText]));
}

/** Object parameters from input texts: fields left at their default are omitted, like a user typing only what they change. */
export function paramsFromTexts(specs: FieldSpec[], texts: Record<string, string>): { params: Record<string, unknown>; errors: Record<string, string> } {
  const params: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const spec of specs) {
    const text = texts[spec.key] ?? spec.defaultText;
    if (spec.hasDefault && text.trim() === spec.defaultText.trim()) continue;
    try {
      const value = toValue(spec, text);
      if (value !== undefined) params[spec.key] = value;
    } catch (error) {
      errors[spec.key] = (error as Error).message;
    }
  }
  return { params, errors };
}

/** Input texts from object parameters (a preset's or a stored run's JSON). */
export function textsFromParams(specs: FieldSpec[], json: string): Record<string, string> {
  let params: Record<string, unknown> = {};
  try {
    params = JSON.parse(json) as Record<string, unknown>;
  } catch {
    /* keep defaults */
  }
  return Object.fromEntries(
    specs.map((spec) => {
      const value = params[spec.key];
      if (value === undefined) return [spec.key, spec.defaultText];
      return [spec.key, typeof value === "string" ? value : JSON.stringify(value)];
    }),
  );
}

/** zod issues of an object schema keyed by their first path element ("" for the object itself). */
export function issuesByField(error: z.ZodError): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const issue of error.issues) {
    const key = issue.code === "unrecognized_keys" ? "" : String(issue.path[0] ?? "");
    errors[key] ??= issue.message.replace(/^Invalid input: /, "");
  }
  return errors;
}

export { dashboardConfigFields, dashboardSearchConfigSchema };

/** `npm run search -- …` for a config: the flags that differ from their defaults, as a user would type them. */
export function cliCommand(config: Record<string, unknown>): string {
  const quote = (value: string) => (/^[A-Za-z0-9._,/:=-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);
  const parts = ["npm run search --"];
  for (const field of searchConfigFields) {
    const value = config[field];
    if (value === undefined) continue;
    const spec = configFieldSpecs[field];
    // As the CLI reads them: ids and bounds as "0,1", parameters as JSON.
    const text = typeof value === "string" ? value : Array.isArray(value) ? value.join(",") : JSON.stringify(value);
    if (spec.hasDefault && text === spec.defaultText && !["name", "evalType", "dataset"].includes(field)) continue;
    if (spec.flag.group === "compatibility") continue;
    parts.push(`${spec.flag.short ?? spec.flag.flag} ${quote(text)}`);
  }
  return parts.join(" ");
}

/** Fields drawn by dedicated widgets of the form (the rest are drawn from their specs, by group). */
export const CUSTOM_FIELDS: readonly SearchConfigField[] = ["name", "evalType", "dataset", "evalParams", "devQuestions", "testQuestions", "gpus", "initialExpertDirectory", "baseModel", "mergeMethod", "mergeParams"];

const GROUP_TITLES: Record<string, string> = {
  objective: "Evaluation (more)",
  search: "Search (BWR hyperparameters)",
  population: "Population",
  merge: "Merge",
  devices: "Devices (more)",
  output: "Output",
  compatibility: "BWR_model compatibility flags",
};
const GROUP_ORDER = ["search", "population", "merge", "output", "objective"];

/**
 * The generic sections of the form: every config field without a dedicated widget (the server decides where
 * runs are written, so --output_root has none), by its flag group, so a
 * field added to the schema appears in the form without touching it. "devices" fields go beside the device
 * picker; compatibility flags come last, collapsed.
 */
export function genericSections(): Array<{ group: string; title: string; collapsed: boolean; fields: SearchConfigField[] }> {
  const groups = new Map<string, SearchConfigField[]>();
  for (const field of dashboardConfigFields) {
    if (CUSTOM_FIELDS.includes(field)) continue;
    const group = configFieldSpecs[field].flag.group;
    groups.set(group, [...(groups.get(group) ?? []), field]);
  }
  const order = [...GROUP_ORDER, ...[...groups.keys()].filter((group) => !GROUP_ORDER.includes(group) && group !== "compatibility"), "compatibility"];
  return order
    .filter((group) => groups.has(group))
    .map((group) => ({ group, title: GROUP_TITLES[group] ?? group, collapsed: group === "compatibility", fields: groups.get(group)! }));
}
