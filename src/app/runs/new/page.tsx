"use client";

import { useMutation, useQuery } from "@tanstack/react-query";
import { TRPCClientError } from "@trpc/client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useMemo, useState } from "react";
import { evalTypes } from "@/engine/eval/registry";
import { MERGE_METHODS } from "@/engine/merge/registry";
import { searchMode, type ConfigIssues, type SearchConfig, type SearchConfigField } from "@/engine/search/config";
import { useTRPC } from "@/trpc/react";
import { formatBytes } from "../../format";
import {

  cliCommand,
  configFieldSpecs,
  dashboardConfigFields,
  dashboardSearchConfigSchema,
  defaultTexts,
  genericSections,
  issuesByField,
  objectFieldSpecs,
  paramsFromTexts,
  textsFromParams,
  toValue,
  type FieldSpec,
} from "./schema-form";

type Texts = Record<string, string>;

const mergeMethodNames = Object.keys(MERGE_METHODS) as Array<keyof typeof MERGE_METHODS>;
const evalTypeNames = Object.keys(evalTypes) as Array<keyof typeof evalTypes>;
const mergeSpecs = Object.fromEntries(mergeMethodNames.map((name) => [name, objectFieldSpecs(MERGE_METHODS[name].schema)])) as Record<string, FieldSpec[]>;
const evalSpecs = Object.fromEntries(evalTypeNames.map((name) => [name, objectFieldSpecs(evalTypes[name].paramsSchema)])) as Record<string, FieldSpec[]>;
// One array for every unknown method, so the memos that depend on the specs keep their values between renders.
const noSpecs: FieldSpec[] = [];

/** Fields whose value the form assembles itself; every other field's text is converted by its spec. */
const valueWidgets = new Set<SearchConfigField>(["name", "evalType", "dataset", "evalParams", "gpus", "initialExpertDirectory", "mergeMethod", "mergeParams"]);
const sections = genericSections();

interface Preset {
  id: string;
  label: string;
  description: string;
  config: Partial<Record<SearchConfigField, string | number>>;
  /** Reset every other field to the seed's default first. */
  reset?: boolean;
}

/** The Japanese-math story: task-arithmetic weights of the experts (recipe mode), greedy selection. */
const japaneseMathSearch = {
  evalType: "exact_match",
  dataset: "mgsm_ja",
  evalParams: '{"maxNewTokens": 16}',
  mergeMethod: "task_arithmetic",
  mergeParams: '{"base_model_idx": null}',
  selection: "greedy",
} as const;

const presets: Preset[] = [
  {
    id: "quick",
    label: "Quick demo",
    description: "gsm8k, 8 dev / 8 test questions, 3 iterations, answers up to 16 tokens: under a minute on a CPU",
    config: { evalType: "exact_match", dataset: "gsm8k", evalParams: '{"maxNewTokens": 16}', devQuestions: 8, testQuestions: 8, maxIteration: 3 },
    reset: true,
  },
  {
    id: "seed",
    label: "Seed defaults",
    description: "BWR_model's defaults for every hyperparameter (weighted_average, step 1, patience 10, 200 iterations)",
    config: {},
    reset: true,
  },
  {
    id: "ja-math",
    label: "Japanese math demo",
    description: "npm run demo: mgsm_ja, task arithmetic over per-expert coefficients (recipe mode), greedy selection, 40 dev questions, 6 iterations",
    config: {
      ...japaneseMathSearch,
      devQuestions: 40,
      testQuestions: 200,
      maxIteration: 6,
    },
    reset: true,
  },
  {
    id: "ja-math-full",
    label: "Japanese math (README)",
    description: "The README's search: mgsm_ja, task arithmetic recipe, greedy, 100 dev questions, 30 iterations, patience 10",
    config: {
      ...japaneseMathSearch,
      devQuestions: 100,
      maxIteration: 30,
      patience: 10,
    },
    reset: true,
  },
];

function initialTexts(): Texts {
  const texts: Texts = {};
  for (const [field, spec] of Object.entries(configFieldSpecs)) texts[field] = spec.defaultText;
  texts.evalType = "exact_match";
  texts.dataset = "gsm8k";
  return texts;
}

function defaultName() {
  const now = new Date();
  const pad = (value: number) => String(value).padStart(2, "0");
  return `search-${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
}

function FieldError({ message, testId }: { message?: string; testId?: string }) {
  if (!message) return null;
  return (
    <p className="mt-1 text-xs text-red-700" role="alert" data-testid={testId}>
      {message}
    </p>
  );
}

function Label({ title, flag, help, htmlFor }: { title: string; flag?: string; help?: string; htmlFor: string }) {
  return (
    <label htmlFor={htmlFor} className="block text-sm font-medium text-slate-800">
      {title} {flag && <code className="ml-1 text-xs font-normal text-slate-400">{flag}</code>}
      {help && <span className="block text-xs font-normal text-slate-500">{help}</span>}
    </label>
  );
}

const inputClass = "mt-1 w-full rounded border border-slate-300 bg-white px-2 py-1 text-sm focus:border-sky-500 focus:outline-none";

function SpecInput({ id, spec, value, onChange, invalid }: { id: string; spec: FieldSpec; value: string; onChange: (value: string) => void; invalid: boolean }) {
  const cls = `${inputClass} ${invalid ? "border-red-500 bg-red-50" : ""}`;
  if (spec.kind === "binary" || spec.kind === "boolean") {
    const on = spec.kind === "binary" ? value === "1" : value === "true";
    return (
      <input
        id={id}
        type="checkbox"
        className="mt-2 h-4 w-4"
        checked={on}
        onChange={(event) => onChange(spec.kind === "binary" ? (event.target.checked ? "1" : "0") : String(event.target.checked))}
      />
    );
  }
  if (spec.kind === "enum") {
    return (
      <select id={id} className={cls} value={value} onChange={(event) => onChange(event.target.value)}>
        {!spec.hasDefault && <option value="">(unset)</option>}
        {spec.options!.map((option) => (
          <option key={option} value={option}>
            {option}
          </option>
        ))}
      </select>
    );
  }
  if (spec.kind === "string" && (value.includes("\n") || spec.key.toLowerCase().includes("template"))) {
    return <textarea id={id} className={`${cls} font-mono`} rows={2} value={value} onChange={(event) => onChange(event.target.value)} />;
  }
  const placeholder = spec.hasDefault ? `default ${spec.defaultText}` : spec.kind === "json" ? (spec.nullable ? "null or a number" : "e.g. [1, 0.5]") : "optional";
  return (
    <input
      id={id}
      className={`${cls} ${spec.kind === "integer" || spec.kind === "number" ? "tabular-nums" : ""}`}
      inputMode={spec.kind === "integer" ? "numeric" : spec.kind === "number" ? "decimal" : undefined}
      value={value}
      placeholder={placeholder}
      onChange={(event) => onChange(event.target.value)}
    />
  );
}

function boundsText(spec: FieldSpec) {
  if (spec.min === undefined && spec.max === undefined) return "";
  if (spec.min !== undefined && spec.max !== undefined) return ` (${spec.min}–${spec.max})`;
  return spec.min !== undefined ? ` (≥ ${spec.min})` : ` (≤ ${spec.max})`;
}

function ParamsForm({ prefix, specs, texts, errors, onChange }: { prefix: string; specs: FieldSpec[]; texts: Texts; errors: Record<string, string>; onChange: (key: string, value: string) => void }) {
  if (specs.length === 0) return <p className="text-xs text-slate-500">No parameters.</p>;
  return (
    <div className="grid gap-3 md:grid-cols-2">
      {specs.map((spec) => (
        <div key={spec.key} data-testid={`${prefix}-${spec.key}`}>
          <Label htmlFor={`${prefix}-input-${spec.key}`} title={spec.key} help={`${spec.help}${boundsText(spec)}`} />
          <SpecInput id={`${prefix}-input-${spec.key}`} spec={spec} value={texts[spec.key] ?? spec.defaultText} invalid={!!errors[spec.key]} onChange={(value) => onChange(spec.key, value)} />
          <FieldError message={errors[spec.key]} testId={`error-${prefix}-${spec.key}`} />
        </div>
      ))}
    </div>
  );
}

export default function NewSearchPage() {
  const trpc = useTRPC();
  const router = useRouter();
  const [texts, setTexts] = useState<Texts>(initialTexts);
  const [mergeTexts, setMergeTexts] = useState<Texts>(() => defaultTexts(mergeSpecs.weighted_average!));
  const [evalTexts, setEvalTexts] = useState<Texts>(() => defaultTexts(evalSpecs.exact_match!));
  const [serverErrors, setServerErrors] = useState<{ fields: Record<string, string>; mergeParams: Record<string, string>; message: string | null }>({ fields: {}, mergeParams: {}, message: null });
  const [touched, setTouched] = useState(false);

  // eslint-disable-next-line react-hooks/set-state-in-effect -- the default name is the clock time, set after hydration so the server and client renders agree
  useEffect(() => setTexts((current) => (current.name ? current : { ...current, name: defaultName() })), []);

  const datasets = useQuery(trpc.catalog.datasets.queryOptions());
  const devices = useQuery(trpc.catalog.devices.queryOptions());
  const directories = useQuery(trpc.catalog.expertDirectories.queryOptions());
  const experts = useQuery(trpc.catalog.experts.queryOptions({ directory: texts.initialExpertDirectory || "./initial_experts" }));

  const mergeMethod = texts.mergeMethod ?? "weighted_average";
  const evalType = texts.evalType ?? "exact_match";
  const currentMergeSpecs = mergeSpecs[mergeMethod] ?? noSpecs;
  const currentEvalSpecs = evalSpecs[evalType] ?? noSpecs;

  const set = (field: string, value: string) => {
    setTexts((current) => ({ ...current, [field]: value }));
    setServerErrors((current) => ({ ...current, fields: { ...current.fields, [field]: "" }, message: null }));
  };

  const applyPreset = (preset: Preset) => {
    const base: Texts = preset.reset ? { ...initialTexts(), name: texts.name ?? "", evalType: texts.evalType ?? "exact_match", dataset: texts.dataset ?? "gsm8k" } : { ...texts };
    for (const [field, value] of Object.entries(preset.config)) base[field] = String(value);
    setTexts(base);
    setMergeTexts(textsFromParams(mergeSpecs[base.mergeMethod!] ?? [], base.mergeParams ?? "{}"));
    setEvalTexts(textsFromParams(evalSpecs[base.evalType!] ?? [], base.evalParams ?? "{}"));
    setServerErrors({ fields: {}, mergeParams: {}, message: null });
  };

  // The config the form stands for, validated with the engine's own schemas as the user types.
  const validation = useMemo(() => {
    const fieldErrors: Record<string, string> = {};
    const merge = paramsFromTexts(currentMergeSpecs, mergeTexts);
    const evalParams = paramsFromTexts(currentEvalSpecs, evalTexts);
    const mergeErrors: Record<string, string> = { ...merge.errors };
    const evalErrors: Record<string, string> = { ...evalParams.errors };
    const methodSchema = MERGE_METHODS[mergeMethod as keyof typeof MERGE_METHODS]?.schema;
    if (methodSchema && Object.keys(merge.errors).length === 0) {
      const parsed = methodSchema.safeParse(merge.params);
      if (!parsed.success) Object.assign(mergeErrors, issuesByField(parsed.error));
    }
    const evalSchema = evalTypes[evalType as keyof typeof evalTypes]?.paramsSchema;
    if (evalSchema && Object.keys(evalParams.errors).length === 0) {
      const parsed = evalSchema.safeParse(evalParams.params);
      if (!parsed.success) Object.assign(evalErrors, issuesByField(parsed.error));
    }
    const raw: Record<string, unknown> = {};
    for (const field of dashboardConfigFields) {
      const spec = configFieldSpecs[field];
      if (valueWidgets.has(field)) continue;
      try {
        const value = toValue(spec, texts[field] ?? "");
        if (value !== undefined) raw[field] = value;
      } catch (error) {
        fieldErrors[field] = (error as Error).message;
      }
    }
    raw.name = texts.name ?? "";
    raw.evalType = evalType;
    raw.dataset = texts.dataset ?? "";
    raw.gpus = !texts.gpus || texts.gpus === "cpu" ? "cpu" : texts.gpus.split(",").map(Number);
    raw.initialExpertDirectory = texts.initialExpertDirectory || "./initial_experts";
    raw.mergeMethod = mergeMethod;
    raw.mergeParams = merge.params;
    raw.evalParams = evalParams.params;
    const parsed = dashboardSearchConfigSchema.safeParse(raw);
    if (!parsed.success) for (const [field, message] of Object.entries(issuesByField(parsed.error))) fieldErrors[field] ??= message;
    if (Object.keys(mergeErrors).length > 0) fieldErrors.mergeParams ??= `fix the ${mergeMethod} parameters above`;
    if (Object.keys(evalErrors).length > 0) fieldErrors.evalParams ??= `fix the ${evalType} parameters above`;
    const ok = Object.keys(fieldErrors).length === 0;
    return { ok, config: parsed.success ? parsed.data : null, raw, fieldErrors, mergeErrors, evalErrors };
  }, [texts, mergeTexts, evalTexts, mergeMethod, evalType, currentMergeSpecs, currentEvalSpecs]);

  const create = useMutation(
    trpc.runs.create.mutationOptions({
      onSuccess: ({ runId }) => router.push(`/runs/${runId}`),
      onError: (error) => {
        const issues = error instanceof TRPCClientError ? (error.data as { configIssues?: ConfigIssues | null } | undefined)?.configIssues : null;
        setServerErrors({ fields: issues?.fields ?? {}, mergeParams: issues?.mergeParams ?? {}, message: error.message });
      },
    }),
  );

  const errorOf = (field: string) => serverErrors.fields[field] || (touched ? validation.fieldErrors[field] : validation.fieldErrors[field]);
  const mergeErrors = { ...validation.mergeErrors, ...serverErrors.mergeParams };

  // The evaluation budget: what the search will cost at most, before anything runs.
  const budget = useMemo(() => {
    const config = validation.config as SearchConfig | null;
    const dataset = datasets.data?.find((entry) => entry.name === texts.dataset);
    const expertCount = experts.data?.experts.length ?? 0;
    if (!config || !dataset || expertCount === 0) return null;
    const mode = searchMode(config);
    const mergeParams: Record<string, unknown> = config.mergeParams;
    const baseIdxDefault = currentMergeSpecs.find((spec) => spec.key === "base_model_idx")?.defaultText;
    const baseIdx = "base_model_idx" in mergeParams ? mergeParams.base_model_idx : baseIdxDefault === undefined || baseIdxDefault === "null" ? null : Number(baseIdxDefault);
    const population = config.populateInitialExperts === 1 ? (config.initialExpertsNum ?? expertCount) : mode === "recipe" && baseIdx != null ? expertCount - 1 : expertCount;
    const dev = config.devQuestions > 0 ? Math.min(config.devQuestions, dataset.devSize) : dataset.devSize;
    const test = config.testQuestions > 0 ? Math.min(config.testQuestions, dataset.testSize) : dataset.testSize;
    const evaluations = population * (config.maxIteration + 1);
    const testEvaluations = 1 + config.topKTest + (config.startingTestSetEval === 1 ? population : 0);
    return { mode, population, dev, test, evaluations, questions: evaluations * dev, testQuestions: testEvaluations * test, testEvaluations, maxIteration: config.maxIteration };
  }, [validation.config, datasets.data, experts.data, texts.dataset, currentMergeSpecs]);

  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    setTouched(true);
    if (!validation.ok) return;
    create.mutate(validation.raw as never);
  };

  const selectedGpus = new Set((texts.gpus ?? "cpu") === "cpu" ? [] : (texts.gpus ?? "").split(",").filter(Boolean));
  const toggleGpu = (id: string, on: boolean) => {
    const next = new Set(selectedGpus);
    if (on) next.add(id);
    else next.delete(id);
    set("gpus", next.size === 0 ? "cpu" : [...next].sort((a, b) => Number(a) - Number(b)).join(","));
  };

  const genericField = (field: SearchConfigField) => {
    const spec = configFieldSpecs[field];
    const message = errorOf(field);
    return (
      <div key={field} data-testid={`field-${field}`}>
        <Label htmlFor={`input-${field}`} title={field} flag={spec.flag.flag} help={`${spec.help}${boundsText(spec)}`} />
        <SpecInput id={`input-${field}`} spec={spec} value={texts[field] ?? ""} invalid={!!message} onChange={(value) => set(field, value)} />
        <FieldError message={message} testId={`error-${field}`} />
      </div>
    );
  };

  const method = MERGE_METHODS[mergeMethod as keyof typeof MERGE_METHODS];
  const evalTypeInfo = evalTypes[evalType as keyof typeof evalTypes];

  return (
    <form onSubmit={submit} className="space-y-6" noValidate>
      <div className="flex flex-wrap items-end justify-between gap-4">
        <div>
          <h1 className="text-2xl font-semibold">New search</h1>
          <p className="text-sm text-slate-600">Every field comes from the engine&apos;s schemas; the same checks run here and on the server.</p>
        </div>
        <div className="flex flex-wrap gap-2" role="group" aria-label="Presets">
          {presets.map((preset) => (
            <button key={preset.id} type="button" title={preset.description} onClick={() => applyPreset(preset)} className="rounded border border-slate-300 bg-white px-3 py-1.5 text-sm hover:bg-slate-100" data-testid={`preset-${preset.id}`}>
              {preset.label}
            </button>
          ))}
        </div>
      </div>

      <section className="rounded-lg border border-slate-200 bg-white p-4">
        <div className="grid gap-4 md:grid-cols-3">
          <div data-testid="field-name">
            <Label htmlFor="input-name" title="Name" flag="--name" help={configFieldSpecs.name.help} />
            <input id="input-name" className={`${inputClass} ${errorOf("name") ? "border-red-500 bg-red-50" : ""}`} value={texts.name ?? ""} onChange={(event) => set("name", event.target.value)} />
            <FieldError message={errorOf("name")} testId="error-name" />
          </div>
          <div data-testid="field-evalType">
            <Label htmlFor="input-evalType" title="Eval type" flag="--eval_type" help={evalTypeInfo ? `${evalTypeInfo.description} · metric ${evalTypeInfo.metric.name}` : ""} />
            <select
              id="input-evalType"
              className={inputClass}
              value={evalType}
              onChange={(event) => {
                set("evalType", event.target.value);
                setEvalTexts(defaultTexts(evalSpecs[event.target.value] ?? []));
              }}
            >
              {evalTypeNames.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
            <FieldError message={errorOf("evalType")} testId="error-evalType" />
          </div>
          <div data-testid="field-dataset">
            <Label htmlFor="input-dataset" title="Dataset" flag="--dataset" help="data/eval/*.json with its dev / test sizes" />
            <select id="input-dataset" className={`${inputClass} ${errorOf("dataset") ? "border-red-500 bg-red-50" : ""}`} value={texts.dataset ?? ""} onChange={(event) => set("dataset", event.target.value)}>
              {!datasets.data?.some((entry) => entry.name === texts.dataset) && <option value={texts.dataset}>{texts.dataset}</option>}
              {datasets.data?.map((entry) => (
                <option key={entry.name} value={entry.name}>
                  {entry.name} — {entry.devSize} dev / {entry.testSize} test{entry.multipleChoice ? " · multiple choice" : ""}
                </option>
              ))}
            </select>
            <FieldError message={errorOf("dataset")} testId="error-dataset" />
            {(() => {
              const chosen = datasets.data?.find((entry) => entry.name === texts.dataset);
              if (!chosen || errorOf("dataset") || evalType === "external_api" || chosen.multipleChoice === (evalType === "multiple_choice")) return null;
              return (
                <p className="mt-1 text-xs text-amber-700" data-testid="warning-dataset">
                  {chosen.multipleChoice ? `${chosen.name} is multiple choice: use the multiple_choice eval type` : `${chosen.name} has no answer options: multiple_choice needs items with choices`}
                </p>
              );
            })()}
          </div>
        </div>
        <div className="mt-4">
          <h3 className="mb-2 text-xs font-semibold uppercase tracking-wide text-slate-500">{evalType} parameters</h3>
          <ParamsForm prefix="eval" specs={currentEvalSpecs} texts={evalTexts} errors={validation.evalErrors} onChange={(key, value) => setEvalTexts((current) => ({ ...current, [key]: value }))} />
          <FieldError message={serverErrors.fields.evalParams} testId="error-evalParams" />
        </div>
        <div className="mt-4 grid gap-4 md:grid-cols-3">
          {genericField("devQuestions")}
          {genericField("testQuestions")}
        </div>
      </section>

      <section className="rounded-lg border border-slate-200 bg-white p-4" data-testid="experts-section">
        <h2 className="mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500">Experts</h2>
        <div className="grid gap-4 md:grid-cols-2">
          <div data-testid="field-initialExpertDirectory">
            <Label htmlFor="input-initialExpertDirectory" title="Expert folder" flag="--initial_expert_directory" help={configFieldSpecs.initialExpertDirectory.help} />
            <input id="input-initialExpertDirectory" list="expert-directories" className={inputClass} value={texts.initialExpertDirectory ?? ""} onChange={(event) => set("initialExpertDirectory", event.target.value)} />
            <datalist id="expert-directories">
              {directories.data?.map((entry) => (
                <option key={entry.directory} value={entry.directory}>
                  {entry.count} experts
                </option>
              ))}
            </datalist>
            <FieldError message={errorOf("initialExpertDirectory")} testId="error-initialExpertDirectory" />
          </div>
          {genericField("baseModel")}
        </div>
        {experts.data && !experts.data.exists && <p className="mt-2 text-sm text-red-700" data-testid="experts-problem">{experts.data.refused ? `Not read: ${experts.data.refused}.` : "No such folder."}</p>}
        {experts.data && experts.data.experts.length > 0 && (
          <table className="mt-3 w-full text-sm" data-testid="experts-table">
            <thead className="text-left text-xs text-slate-500">
              <tr>
                <th className="py-1">#</th>
                <th>Expert</th>
                <th>Base model</th>
                <th className="pr-4 text-right">Rank (α)</th>
                <th>Target modules</th>
                <th className="text-right">Size</th>
              </tr>
            </thead>
            <tbody>
              {experts.data.experts.map((expert, index) => (
                <tr key={expert.folder} className="border-t border-slate-100">
                  <td className="py-1 text-slate-400 tabular-nums">{index}</td>
                  <td className="font-medium">{expert.name}</td>
                  <td className="text-slate-600">{expert.baseModel ?? "—"}</td>
                  <td className="whitespace-nowrap pr-4 text-right tabular-nums">
                    {expert.rank ?? "—"} {expert.alpha != null && <span className="text-slate-400">({expert.alpha})</span>}
                  </td>
                  <td className="text-xs text-slate-600">{expert.targetModules.join(", ")}</td>
                  <td className="text-right tabular-nums">{formatBytes(expert.sizeBytes)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section className="rounded-lg border border-slate-200 bg-white p-4">
        <h2 className="mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500">Merge method</h2>
        <div data-testid="field-mergeMethod">
          <Label htmlFor="input-mergeMethod" title="Method" flag="--merge_method" />
          <select
            id="input-mergeMethod"
            className={inputClass}
            value={mergeMethod}
            onChange={(event) => {
              set("mergeMethod", event.target.value);
              setMergeTexts(defaultTexts(mergeSpecs[event.target.value] ?? []));
              setServerErrors((current) => ({ ...current, mergeParams: {} }));
            }}
          >
            {mergeMethodNames.map((name) => (
              <option key={name} value={name}>
                {MERGE_METHODS[name].title} ({name})
              </option>
            ))}
          </select>
          <FieldError message={errorOf("mergeMethod")} testId="error-mergeMethod" />
        </div>
        {method && (
          <p className="mt-2 text-xs text-slate-600">
            {method.description}{" "}
            <a className="text-sky-700 underline" href={method.paper.url} target="_blank" rel="noreferrer">
              {method.paper.title}
            </a>
          </p>
        )}
        <div className="mt-3">
          <ParamsForm
            prefix="merge"
            specs={currentMergeSpecs}
            texts={mergeTexts}
            errors={mergeErrors}
            onChange={(key, value) => {
              setMergeTexts((current) => ({ ...current, [key]: value }));
              setServerErrors((current) => ({ ...current, mergeParams: {}, fields: { ...current.fields, mergeParams: "", mergeMethod: "" } }));
            }}
          />
          {mergeErrors[""] && <FieldError message={mergeErrors[""]} testId="error-merge-params" />}
          <FieldError message={errorOf("mergeParams")} testId="error-mergeParams" />
        </div>
      </section>

      <section className="rounded-lg border border-slate-200 bg-white p-4" data-testid="devices-section">
        <h2 className="mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500">
          Devices <code className="ml-1 text-xs font-normal normal-case text-slate-400">--gpus {texts.gpus}</code>
        </h2>
        <div className="flex flex-wrap gap-3 text-sm">
          <label className="flex items-center gap-2 rounded border border-slate-200 px-3 py-2">
            <input type="radio" name="cpu" checked={selectedGpus.size === 0} onChange={() => set("gpus", "cpu")} />
            CPU{devices.data && ` — ${devices.data.cpu.name}, ${devices.data.cpu.cores} cores, ${formatBytes(devices.data.cpu.memoryBytes)}`}
          </label>
          {devices.data?.gpus.map((gpu) => (
            <label key={gpu.id} className="flex items-center gap-2 rounded border border-slate-200 px-3 py-2" data-testid={`gpu-${gpu.id}`}>
              <input type="checkbox" checked={selectedGpus.has(String(gpu.id))} onChange={(event) => toggleGpu(String(gpu.id), event.target.checked)} />
              GPU {gpu.id} — {gpu.name}, {formatBytes(gpu.memoryBytes)}
            </label>
          ))}
          {devices.data && devices.data.gpus.length === 0 && <span className="self-center text-xs text-slate-500">No GPU detected (nvidia-smi); evaluation runs on the CPU.</span>}
        </div>
        <FieldError message={errorOf("gpus")} testId="error-gpus" />
        {sections
          .filter((section) => section.group === "devices")
          .map((section) => (
            <div key={section.group} className="mt-3 grid gap-4 md:grid-cols-3">
              {section.fields.map(genericField)}
            </div>
          ))}
      </section>

      {sections
        .filter((section) => section.group !== "devices")
        .map(({ group, title, collapsed, fields }) => {
          const body = <div className="grid gap-4 md:grid-cols-3">{fields.map(genericField)}</div>;
          return (
            <section key={group} className="rounded-lg border border-slate-200 bg-white p-4" data-testid={`section-${group}`}>
              {collapsed ? (
                <details>
                  <summary className="cursor-pointer text-sm font-semibold uppercase tracking-wide text-slate-500">{title}</summary>
                  <div className="mt-3">{body}</div>
                </details>
              ) : (
                <>
                  <h2 className="mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500">{title}</h2>
                  {body}
                </>
              )}
            </section>
          );
        })}

      <section className="sticky bottom-0 rounded-lg border border-sky-200 bg-sky-50 p-4 shadow-sm" data-testid="budget">
        <h2 className="mb-1 text-sm font-semibold uppercase tracking-wide text-sky-800">Evaluation budget</h2>
        {budget ? (
          <p className="text-sm text-slate-800" data-testid="budget-summary">
            {budget.mode} mode: <b>{budget.population}</b> candidates × (<b>{budget.maxIteration}</b> iterations + the initial one) × <b>{budget.dev}</b> dev questions ={" "}
            <b data-testid="budget-questions">{budget.questions.toLocaleString("en")}</b> dev questions at most ({budget.evaluations.toLocaleString("en")} evaluations); then {budget.testEvaluations} test evaluation
            {budget.testEvaluations === 1 ? "" : "s"} × {budget.test} questions. Patience may stop it earlier.
          </p>
        ) : (
          <p className="text-sm text-slate-600">Fill in the form to see what the search will cost.</p>
        )}
        <code className="mt-2 block overflow-x-auto whitespace-nowrap text-xs text-slate-500" data-testid="cli-equivalent">
          {cliCommand(validation.raw)}
        </code>
        {serverErrors.message && (
          <p className="mt-2 text-sm text-red-700" role="alert" data-testid="server-error">
            {serverErrors.message}
          </p>
        )}
        {touched && !validation.ok && (
          <p className="mt-2 text-sm text-red-700" data-testid="form-invalid">
            Fix the highlighted fields: {Object.keys(validation.fieldErrors).join(", ")}.
          </p>
        )}
        <div className="mt-3 flex items-center gap-3">
          <button type="submit" disabled={create.isPending} className="rounded bg-sky-700 px-4 py-2 text-sm font-medium text-white hover:bg-sky-800 disabled:opacity-50" data-testid="launch">
            {create.isPending ? "Checking and queueing…" : "Launch search"}
          </button>
          <Link href="/" className="text-sm text-slate-600 hover:underline">
            Cancel
          </Link>
        </div>
      </section>
    </form>
  );
}
