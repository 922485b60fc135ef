"use client";

import { keepPreviousData, useMutation, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useMemo, useState } from "react";
import { useTRPC } from "@/trpc/react";
import { formatBytes } from "../../format";
import { DatasetField } from "./dataset-field";
import { BaseModelPicker } from "./base-model-picker";
import { cliCommand, defaultTexts, paramsFromTexts, presetTexts, rawConfig, textsFromParams, type ConfigField, type FieldSpec, type FormSpec, type Texts } from "./schema-form";

type Preset = FormSpec["presets"][number];

// One array for every unknown method, so the memos that depend on the specs keep their values between renders.
const noSpecs: FieldSpec[] = [];

/** The latest value once it has held still for `ms`, so a query follows typing without a request per key. */
function useSettled<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
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

function ParamsForm({ prefix, specs, texts, errors, onChange }: { prefix: string; specs: FieldSpec[]; texts: Texts; errors: Texts; onChange: (key: string, value: string) => void }) {
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

/**
 * The same search as a CLI command: folded away and wrapped (it runs to hundreds of characters, and the panel it sits
 * in stays on screen), with a button that copies it.
 */
function CommandLine({ command }: { command: string }) {
  // The command last copied: the button says so until the settings change it.
  const [copied, setCopied] = useState<string | null>(null);
  return (
    <div className="mt-2 flex items-start gap-2 text-xs">
      <details className="min-w-0 flex-1">
        <summary className="cursor-pointer text-slate-600">Command line</summary>
        <code className="mt-1 block max-h-24 overflow-y-auto whitespace-pre-wrap break-all text-slate-500" data-testid="cli-equivalent">
          {command}
        </code>
      </details>
      <button
        type="button"
        className="shrink-0 rounded border border-sky-300 bg-white px-2 py-0.5 text-sky-800 hover:bg-sky-100"
        onClick={() => navigator.clipboard.writeText(command).then(() => setCopied(command))}
        data-testid="copy-command"
      >
        {copied === command ? "Copied" : "Copy command"}
      </button>
    </div>
  );
}

export default function NewSearchPage() {
  const trpc = useTRPC();
  const spec = useQuery(trpc.form.spec.queryOptions(undefined, { staleTime: Infinity }));
  if (spec.data) return <NewSearchForm spec={spec.data} />;
  return (
    <div className="space-y-2">
      <h1 className="text-2xl font-semibold">New search</h1>
      {spec.error ? (
        <p className="text-sm text-red-700" role="alert">
          The form could not be loaded: {spec.error.message}
        </p>
      ) : (
        <p className="text-sm text-slate-600">Loading the form…</p>
      )}
    </div>
  );
}

const sectionTitleClass = "mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500";

function NewSearchForm({ spec }: { spec: FormSpec }) {
  const trpc = useTRPC();
  const router = useRouter();
  const mergeSpecs = useMemo(() => new Map(spec.mergeMethods.map((method) => [method.name, method.params])), [spec]);
  const evalSpecs = useMemo(() => new Map(spec.evalTypes.map((type) => [type.name, type.params])), [spec]);
  const placed = useMemo(() => spec.sections.flatMap((section) => [...section.dedicated, ...section.fields]), [spec]);

  // The form opens on the first preset; the name is the clock time (this form is drawn in the browser only).
  const [texts, setTexts] = useState<Texts>(() => ({ ...presetTexts(spec.fields, spec.presets[0]!, {}), name: defaultName() }));
  const [mergeTexts, setMergeTexts] = useState<Texts>(() => textsFromParams(mergeSpecs.get(texts.mergeMethod!) ?? noSpecs, texts.mergeParams ?? "{}"));
  const [evalTexts, setEvalTexts] = useState<Texts>(() => textsFromParams(evalSpecs.get(texts.evalType!) ?? noSpecs, texts.evalParams ?? "{}"));
  const [serverErrors, setServerErrors] = useState<{ fields: Texts; mergeParams: Texts; message: string | null }>({ fields: {}, mergeParams: {}, message: null });
  const [touched, setTouched] = useState(false);

  const devices = useQuery(trpc.catalog.devices.queryOptions());
  const directories = useQuery(trpc.catalog.expertDirectories.queryOptions());
  const experts = useQuery(trpc.catalog.experts.queryOptions({ directory: texts.initialExpertDirectory || spec.fields.initialExpertDirectory.defaultText }));

  const mergeMethod = texts.mergeMethod ?? spec.fields.mergeMethod.defaultText;
  const evalType = texts.evalType ?? "";
  const currentMergeSpecs = mergeSpecs.get(mergeMethod) ?? noSpecs;
  const currentEvalSpecs = evalSpecs.get(evalType) ?? noSpecs;

  const set = (field: string, value: string) => {
    setTexts((current) => ({ ...current, [field]: value }));
    setServerErrors((current) => ({ ...current, fields: { ...current.fields, [field]: "" }, message: null }));
  };

  const applyPreset = (preset: Preset) => {
    const next = presetTexts(spec.fields, preset, texts);
    setTexts(next);
    setMergeTexts(textsFromParams(mergeSpecs.get(next.mergeMethod!) ?? noSpecs, next.mergeParams ?? "{}"));
    setEvalTexts(textsFromParams(evalSpecs.get(next.evalType!) ?? noSpecs, next.evalParams ?? "{}"));
    setServerErrors({ fields: {}, mergeParams: {}, message: null });
  };

  // The config the form stands for, with the texts no widget could read; the server checks the rest as the user types.
  const form = useMemo(() => {
    const merge = paramsFromTexts(currentMergeSpecs, mergeTexts);
    const evalParams = paramsFromTexts(currentEvalSpecs, evalTexts);
    const { raw, errors } = rawConfig(spec.fields, placed, texts, { merge: merge.params, eval: evalParams.params });
    return { raw, errors, mergeErrors: merge.errors, evalErrors: evalParams.errors };
  }, [spec, placed, texts, mergeTexts, evalTexts, currentMergeSpecs, currentEvalSpecs]);

  const checked = useSettled(form.raw, 250);
  const check = useQuery(trpc.form.check.queryOptions(checked, { placeholderData: keepPreviousData }));
  const issues = check.data?.issues ?? { fields: {}, mergeParams: {}, evalParams: {} };
  const checkIsCurrent = check.data !== undefined && !check.isPlaceholderData && checked === form.raw;

  const mergeErrors: Texts = { ...issues.mergeParams, ...form.mergeErrors, ...serverErrors.mergeParams };
  const evalErrors: Texts = { ...issues.evalParams, ...form.evalErrors };
  const fieldErrors: Texts = { ...issues.fields, ...form.errors };
  // A parameter's message stands beside the parameter; its field only points there.
  if (Object.keys(mergeErrors).length > 0) fieldErrors.mergeParams = `fix the ${mergeMethod} parameters above`;
  if (Object.keys(evalErrors).length > 0) fieldErrors.evalParams = `fix the ${evalType} parameters above`;
  const unreadable = Object.keys(form.errors).length + Object.keys(form.mergeErrors).length + Object.keys(form.evalErrors).length > 0;
  // A check of older input neither blocks nor allows the launch: the server checks again then.
  const blocked = unreadable || (checkIsCurrent && Object.keys(fieldErrors).length > 0);

  const create = useMutation(
    trpc.runs.create.mutationOptions({
      onSuccess: ({ runId }) => router.push(`/runs/${runId}`),
      onError: (error) => {
        const issues = error.data?.configIssues;
        setServerErrors({ fields: issues?.fields ?? {}, mergeParams: issues?.mergeParams ?? {}, message: error.message });
      },
    }),
  );

  const errorOf = (field: string) => serverErrors.fields[field] || fieldErrors[field];

  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    setTouched(true);
    if (blocked) return;
    // The warning on screen, even from a check of slightly older input (the name just typed): it is what the user read.
    const warning = check.data?.wallTime?.warning;
    if (warning && !window.confirm(`Launch anyway? ${warning}.`)) return;
    create.mutate(form.raw as never);
  };

  const selectedGpus = new Set((texts.gpus ?? "cpu") === "cpu" ? [] : (texts.gpus ?? "").split(",").filter(Boolean));
  const toggleGpu = (id: string, on: boolean) => {
    const next = new Set(selectedGpus);
    if (on) next.add(id);
    else next.delete(id);
    set("gpus", next.size === 0 ? "cpu" : [...next].sort((a, b) => Number(a) - Number(b)).join(","));
  };

  const genericField = (field: ConfigField) => {
    const fieldSpec = spec.fields[field];
    const message = errorOf(field);
    return (
      <div key={field} data-testid={`field-${field}`}>
        <Label htmlFor={`input-${field}`} title={field} flag={fieldSpec.flag.flag} help={`${fieldSpec.help}${boundsText(fieldSpec)}`} />
        <SpecInput id={`input-${field}`} spec={fieldSpec} value={texts[field] ?? ""} invalid={!!message} onChange={(value) => set(field, value)} />
        <FieldError message={message} testId={`error-${field}`} />
      </div>
    );
  };

  const method = spec.mergeMethods.find((entry) => entry.name === mergeMethod);
  const evalTypeInfo = spec.evalTypes.find((entry) => entry.name === evalType);
  const budget = check.data?.budget ?? null;
  const estimate = check.data?.estimate ?? null;

  // The widgets of the fields that flagGroups marks dedicated; each section draws them before its generic fields.
  const dedicatedWidgets: Partial<Record<ConfigField, React.ReactNode>> = {
    name: (
      <div key="name" data-testid="field-name">
        <Label htmlFor="input-name" title="Name" flag={spec.fields.name.flag.flag} help={spec.fields.name.help} />
        <input id="input-name" className={`${inputClass} ${errorOf("name") ? "border-red-500 bg-red-50" : ""}`} value={texts.name ?? ""} onChange={(event) => set("name", event.target.value)} />
        <FieldError message={errorOf("name")} testId="error-name" />
      </div>
    ),
    evalType: (
      <div key="evalType" data-testid="field-evalType">
        <Label htmlFor="input-evalType" title="Eval type" flag={spec.fields.evalType.flag.flag} help={evalTypeInfo ? `${evalTypeInfo.description} · metric ${evalTypeInfo.metric}` : ""} />
        <select
          id="input-evalType"
          className={inputClass}
          value={evalType}
          onChange={(event) => {
            set("evalType", event.target.value);
            setEvalTexts(defaultTexts(evalSpecs.get(event.target.value) ?? noSpecs));
          }}
        >
          {spec.evalTypes.map((type) => (
            <option key={type.name} value={type.name}>
              {type.name}
            </option>
          ))}
        </select>
        <FieldError message={errorOf("evalType")} testId="error-evalType" />
      </div>
    ),
    dataset: <DatasetField key="dataset" flag={spec.fields.dataset.flag.flag} value={texts.dataset ?? ""} evalType={evalType} error={errorOf("dataset")} onChange={(value) => set("dataset", value)} />,
    evalParams: (
      <div key="evalParams" className="md:col-span-3">
        <h3 className="mb-2 text-xs font-semibold uppercase tracking-wide text-slate-500">{evalType} parameters</h3>
        <ParamsForm prefix="eval" specs={currentEvalSpecs} texts={evalTexts} errors={evalErrors} onChange={(key, value) => setEvalTexts((current) => ({ ...current, [key]: value }))} />
        <FieldError message={errorOf("evalParams")} testId="error-evalParams" />
      </div>
    ),
    initialExpertDirectory: (
      <div key="initialExpertDirectory" className="md:col-span-3" data-testid="experts-section">
        <div data-testid="field-initialExpertDirectory" className="md:w-1/2">
          <Label htmlFor="input-initialExpertDirectory" title="Expert folder" flag={spec.fields.initialExpertDirectory.flag.flag} help={spec.fields.initialExpertDirectory.help} />
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
      </div>
    ),
    mergeMethod: (
      <div key="mergeMethod" className="md:col-span-3" data-testid="field-mergeMethod">
        <Label htmlFor="input-mergeMethod" title="Method" flag={spec.fields.mergeMethod.flag.flag} />
        <select
          id="input-mergeMethod"
          className={`${inputClass} md:w-1/2`}
          value={mergeMethod}
          onChange={(event) => {
            set("mergeMethod", event.target.value);
            setMergeTexts(defaultTexts(mergeSpecs.get(event.target.value) ?? noSpecs));
            setServerErrors((current) => ({ ...current, mergeParams: {} }));
          }}
        >
          {spec.mergeMethods.map((entry) => (
            <option key={entry.name} value={entry.name}>
              {entry.title} ({entry.name})
            </option>
          ))}
        </select>
        <FieldError message={errorOf("mergeMethod")} testId="error-mergeMethod" />
        {method && (
          <p className="mt-2 text-xs text-slate-600">
            {method.description}{" "}
            <a className="text-sky-700 underline" href={method.paper.url} target="_blank" rel="noreferrer">
              {method.paper.title}
            </a>
          </p>
        )}
      </div>
    ),
    mergeParams: (
      <div key="mergeParams" className="md:col-span-3">
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
        <FieldError message={errorOf("mergeParams")} testId="error-mergeParams" />
      </div>
    ),
    gpus: (
      <div key="gpus" className="md:col-span-3" data-testid="devices-section">
        <code className="text-xs text-slate-400">
          {spec.fields.gpus.flag.flag} {texts.gpus}
        </code>
        <div className="mt-1 flex flex-wrap gap-3 text-sm">
          <label className="flex items-center gap-2 rounded border border-slate-200 px-3 py-2">
            <input type="radio" name="cpu" checked={selectedGpus.size === 0} onChange={() => set("gpus", "cpu")} />
            CPU{devices.data && ` — ${devices.data.cpu.name}, ${devices.data.cpu.cores} cores, ${formatBytes(devices.data.cpu.memoryBytes)}`}
          </label>
          {devices.data?.gpus.map((gpu) => (
            <label key={gpu.id} className="flex items-center gap-2 rounded border border-slate-200 px-3 py-2" data-testid={`gpu-${gpu.id}`} title={gpu.unusable ?? undefined}>
              <input type="checkbox" disabled={gpu.unusable !== null} checked={selectedGpus.has(String(gpu.id))} onChange={(event) => toggleGpu(String(gpu.id), event.target.checked)} />
              GPU {gpu.id} — {gpu.name}
              {gpu.memoryBytes !== null && `, ${formatBytes(gpu.memoryBytes)}`}
              {gpu.unusable && <span className="text-xs text-amber-700">(cannot be used: {gpu.unusable})</span>}
            </label>
          ))}
          {devices.data && devices.data.gpus.length === 0 && <span className="self-center text-xs text-slate-500">No GPU detected; evaluation runs on the CPU.</span>}
        </div>
        <FieldError message={errorOf("gpus")} testId="error-gpus" />
      </div>
    ),
  };

  return (
    <form onSubmit={submit} className="space-y-6" noValidate>
      <div className="flex flex-wrap items-end justify-between gap-4">
        <div>
          <h1 className="text-2xl font-semibold">New search</h1>
          <p className="text-sm text-slate-600">Every field comes from the engine&apos;s schemas; the server checks the config as you type, and again at launch.</p>
        </div>
        <div className="flex flex-wrap gap-2" role="group" aria-label="Presets">
          {spec.presets.map((preset) => (
            <button key={preset.id} type="button" title={preset.description} onClick={() => applyPreset(preset)} className="rounded border border-slate-300 bg-white px-3 py-1.5 text-sm hover:bg-slate-100" data-testid={`preset-${preset.id}`}>
              {preset.label}
            </button>
          ))}
        </div>
      </div>

      <BaseModelPicker baseModel={texts.baseModel ?? ""} expertDirectory={texts.initialExpertDirectory ?? ""} onPick={set} />
      {spec.sections.map(({ group, title, collapsed, dedicated, fields }) => {
        const body = (
          <div className="grid gap-4 md:grid-cols-3">
            {dedicated.map((field) => dedicatedWidgets[field] ?? genericField(field))}
            {fields.map(genericField)}
          </div>
        );
        return (
          <section key={group} className="rounded-lg border border-slate-200 bg-white p-4" data-testid={`section-${group}`}>
            {collapsed ? (
              <details>
                <summary className="cursor-pointer text-sm font-semibold uppercase tracking-wide text-slate-500">{title}</summary>
                <div className="mt-3">{body}</div>
              </details>
            ) : (
              <>
                <h2 className={sectionTitleClass}>{title}</h2>
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
            {budget.mode} mode: <b>{budget.population}</b> candidates × (<b>{budget.maxIteration}</b> iterations + the initial one) × <b>{budget.devQuestions}</b> dev questions ={" "}
            <b data-testid="budget-questions">{budget.questions.toLocaleString("en")}</b> dev questions at most ({budget.evaluations.toLocaleString("en")} evaluations); then {budget.testEvaluations} test evaluation
            {budget.testEvaluations === 1 ? "" : "s"} × {budget.testQuestions} questions. Patience may stop it earlier.
          </p>
        ) : (
          <p className="text-sm text-slate-600">Fill in the form to see what the search will cost.</p>
        )}
        {estimate && (
          <p className={`mt-1 text-sm ${estimate.source === "measured" ? "text-slate-800" : "text-slate-600"}`} data-testid="budget-estimate">
            Time per evaluation: {estimate.line}.
          </p>
        )}
        {check.data?.wallTime && (
          <p className="mt-1 text-sm text-slate-800" data-testid="budget-wall-time">
            Whole search: {check.data.wallTime.line}.
          </p>
        )}
        {check.data?.wallTime?.warning && (
          <p className="mt-1 text-sm font-medium text-amber-800" role="alert" data-testid="budget-warning">
            ⚠ {check.data.wallTime.warning}.
          </p>
        )}
        <CommandLine command={cliCommand(spec.fields, { ...form.raw, outputRoot: spec.outputRoot })} />
        {serverErrors.message && (
          <p className="mt-2 text-sm text-red-700" role="alert" data-testid="server-error">
            {serverErrors.message}
          </p>
        )}
        {touched && blocked && (
          <p className="mt-2 text-sm text-red-700" data-testid="form-invalid">
            Fix the highlighted fields: {Object.keys(fieldErrors).join(", ")}.
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
