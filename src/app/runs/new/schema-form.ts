import type { RouterOutputs } from "@/trpc/react";

/*
 * The new-search form's values: the form is drawn from the specs the server generates from the engine's schemas
 * (`form.spec`), and the inputs hold strings; `toValue` turns each into what its schema expects, and the server
 * (`form.check`, then `runs.create`) validates the config they make.
 */

export type FormSpec = RouterOutputs["form"]["spec"];
export type FieldSpec = FormSpec["mergeMethods"][number]["params"][number];
export type ConfigFields = FormSpec["fields"];
export type ConfigField = keyof ConfigFields;
export type Texts = Record<string, string>;

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

/**
 * A preset's texts over every field's default; the name, and the objective where the preset names none, stay. A
 * preset's eval and merge parameters are objects, held by their fields as the JSON `textsFromParams` reads.
 */
export function presetTexts(fields: ConfigFields, preset: FormSpec["presets"][number], current: Texts): Texts {
  const texts: Texts = { ...defaultTexts(Object.values(fields)), name: current.name ?? "", evalType: current.evalType ?? "", dataset: current.dataset ?? "" };
  for (const [field, value] of Object.entries(preset.config)) texts[field] = typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
  return texts;
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

/**
 * The raw config the form stands for, before the server checks it, with the texts no widget could read. Fields
 * with dedicated widgets are assembled here (parameters as objects, the GPU picker's "0,1" as ids); the rest are
 * read from their specs.
 */
export function rawConfig(
  fields: ConfigFields,
  placed: readonly ConfigField[],
  texts: Texts,
  params: { merge: Record<string, unknown>; eval: Record<string, unknown> },
): { raw: Record<string, unknown>; errors: Texts } {
  const raw: Record<string, unknown> = {};
  const errors: Texts = {};
  for (const field of placed) {
    const spec = fields[field];
    if (spec.widget === "dedicated") continue;
    try {
      const value = toValue(spec, texts[field] ?? "");
      if (value !== undefined) raw[field] = value;
    } catch (error) {
      errors[field] = (error as Error).message;
    }
  }
  raw.name = texts.name ?? "";
  raw.evalType = texts.evalType ?? "";
  raw.dataset = texts.dataset ?? "";
  raw.evalParams = params.eval;
  raw.gpus = !texts.gpus || texts.gpus === "cpu" ? "cpu" : texts.gpus.split(",").map(Number);
  raw.initialExpertDirectory = texts.initialExpertDirectory || fields.initialExpertDirectory.defaultText;
  raw.mergeMethod = texts.mergeMethod || fields.mergeMethod.defaultText;
  raw.mergeParams = params.merge;
  return { raw, errors };
}

/** `npm run search -- …` for a config: the flags that differ from their defaults, as a user would type them. */
export function cliCommand(fields: ConfigFields, config: Record<string, unknown>): string {
  const quote = (value: string) => (/^[A-Za-z0-9._,/:=-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);
  const parts = ["npm run search --"];
  for (const field of Object.keys(fields) as ConfigField[]) {
    const value = config[field];
    if (value === undefined) continue;
    const spec = fields[field];
    // As the CLI reads them: ids and bounds as "0,1", parameters as JSON.
    const text = typeof value === "string" ? value : Array.isArray(value) ? value.join(",") : JSON.stringify(value);
    const isDefault = spec.hasDefault && (text === spec.defaultText || JSON.stringify(value) === spec.defaultText);
    if (isDefault || spec.flag.group === "compatibility") continue;
    parts.push(`${spec.flag.short ?? spec.flag.flag} ${quote(text)}`);
  }
  return parts.join(" ");
}
