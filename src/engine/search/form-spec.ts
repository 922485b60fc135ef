import { z } from "zod";
import { evalTypeNames, evalTypes } from "../eval/registry";
import { MERGE_METHOD_NAMES, MERGE_METHODS } from "../merge/registry";
import { dashboardConfigFields, flagGroups, flagOf, searchConfigFields, searchConfigShape, type FlagGroup, type FlagMeta, type SearchConfigField } from "./config";

/*
 * The new-search form as data, generated from the engine's zod schemas (search config, merge methods, eval
 * types): each field's widget, default, bounds and help come from the schema's JSON Schema. Plain JSON, so the
 * dashboard gets it through tRPC and draws the form without loading the engine.
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
  // Arrays, nullable numbers and anything else: a JSON value ("null", "[1, 0.5]"), or one of the words the field
  // also takes ("cpu").
  const words = nonNull.flatMap((variant) => (typeof variant.const === "string" ? [variant.const] : []));
  return { ...base, kind: "json", defaultText, nullable, ...(words.length ? { options: words } : {}), ...(only ? describeBounds(only) : {}) };
}

/** The widgets of an object schema's properties (a merge method's or an eval type's parameters). */
export function objectFieldSpecs(schema: z.ZodType): FieldSpec[] {
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  return Object.entries(json.properties ?? {}).map(([key, property]) => fieldSpecFromJsonSchema(key, property));
}

export interface ConfigFieldSpec extends FieldSpec {
  key: SearchConfigField;
  flag: FlagMeta;
  /** "dedicated": the form draws this field with a widget of its own; "generic": from this spec. */
  widget: "dedicated" | "generic";
}

function isDedicated(field: SearchConfigField, group: FlagGroup): boolean {
  // Typed as fields here, so a misspelt name in flagGroups fails the type check.
  const dedicated: readonly SearchConfigField[] = flagGroups[group].dedicated;
  return dedicated.includes(field);
}

/** The widget of each search-config field, with its BWR_model flag and help. */
export function configFieldSpecs(): Record<SearchConfigField, ConfigFieldSpec> {
  return Object.fromEntries(
    searchConfigFields.map((field) => {
      const json = z.toJSONSchema(searchConfigShape[field], { io: "input", unrepresentable: "any" }) as JsonSchema;
      const flag = flagOf(field);
      const spec: ConfigFieldSpec = { ...fieldSpecFromJsonSchema(field, json, flag.help), key: field, flag, widget: isDedicated(field, flag.group) ? "dedicated" : "generic" };
      return [field, spec];
    }),
  ) as Record<SearchConfigField, ConfigFieldSpec>;
}

export interface FormSection {
  group: FlagGroup;
  title: string;
  collapsed: boolean;
  /** Fields the form draws with their own widgets, first. */
  dedicated: SearchConfigField[];
  /** The rest, drawn from their specs. */
  fields: SearchConfigField[];
}

/**
 * The form's sections: one per flag group, in the groups' order, holding every field a dashboard client fills in
 * (the server decides where runs are written, so --output_root has none). A field added to the schema appears in
 * its group's section without touching the form.
 */
export function formSections(): FormSection[] {
  return (Object.keys(flagGroups) as FlagGroup[])
    .map((group) => {
      const members = dashboardConfigFields.filter((field) => flagOf(field).group === group);
      return {
        group,
        title: flagGroups[group].title,
        collapsed: flagGroups[group].collapsed,
        dedicated: members.filter((field) => isDedicated(field, group)),
        fields: members.filter((field) => !isDedicated(field, group)),
      };
    })
    .filter((section) => section.dedicated.length + section.fields.length > 0);
}

export interface MergeMethodForm {
  name: string;
  title: string;
  description: string;
  paper: { title: string; url: string };
  params: FieldSpec[];
}

export function mergeMethodForms(): MergeMethodForm[] {
  return MERGE_METHOD_NAMES.map((name) => {
    const { title, description, paper, schema } = MERGE_METHODS[name];
    return { name, title, description, paper, params: objectFieldSpecs(schema) };
  });
}

export interface EvalTypeForm {
  name: string;
  description: string;
  metric: string;
  params: FieldSpec[];
}

export function evalTypeForms(): EvalTypeForm[] {
  return evalTypeNames.map((name) => {
    const { description, metric, paramsSchema } = evalTypes[name];
    return { name, description, metric: metric.name, params: objectFieldSpecs(paramsSchema) };
  });
}
