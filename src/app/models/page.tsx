"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC, type RouterOutputs } from "@/trpc/react";
import { formatBytes } from "../format";

const inputClass = "mt-1 w-full rounded border border-slate-300 bg-white px-2 py-1 font-mono text-sm focus:border-sky-500 focus:outline-none";
const buttonClass = "rounded border border-slate-300 bg-white px-2 py-1 text-xs hover:bg-slate-100 disabled:opacity-50";

function formatParameters(count: number): string {
  if (count >= 1e9) return `${(count / 1e9).toFixed(2)}B`;
  if (count >= 1e6) return `${(count / 1e6).toFixed(2)}M`;
  return `${(count / 1e3).toFixed(1)}K`;
}

function FieldError({ message, testId }: { message?: string | null; testId: string }) {
  if (!message) return null;
  return (
    <p className="mt-1 text-xs text-red-700" role="alert" data-testid={testId}>
      {message}
    </p>
  );
}

function RegisterForm() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [folder, setFolder] = useState("");
  const [expertsFolder, setExpertsFolder] = useState("");
  const [errors, setErrors] = useState<{ folder?: string; expertsFolder?: string; other?: string }>({});
  const register = useMutation(
    trpc.models.register.mutationOptions({
      onSuccess: () => {
        setFolder("");
        setExpertsFolder("");
        setErrors({});
        void queryClient.invalidateQueries({ queryKey: trpc.models.list.queryKey() });
      },
      onError: (error) => {
        const field = error.data?.field;
        // A registration's refusal names the input it is about (data.field); anything else stands below the form.
        setErrors(field === "folder" || field === "expertsFolder" ? { [field]: error.message } : { other: error.message });
      },
    }),
  );
  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    if (!folder.trim()) return setErrors({ folder: "expected a folder path" });
    register.mutate({ folder, expertsFolder: expertsFolder.trim() || null });
  };
  return (
    <form onSubmit={submit} className="grid gap-3 rounded-lg border border-slate-200 bg-white p-4 md:grid-cols-[1fr_1fr_auto]" noValidate data-testid="register-model">
      <div>
        <label htmlFor="model-folder" className="block text-sm font-medium text-slate-800">
          Model folder <span className="block text-xs font-normal text-slate-500">A Hugging Face model: config.json, safetensors, tokenizer.json (Llama, Mistral, Qwen2, Gemma)</span>
        </label>
        <input id="model-folder" className={`${inputClass} ${errors.folder ? "border-red-500 bg-red-50" : ""}`} value={folder} onChange={(event) => setFolder(event.target.value)} placeholder="/models/Mistral-7B-v0.1" />
        <FieldError message={errors.folder} testId="error-model-folder" />
      </div>
      <div>
        <label htmlFor="model-experts-folder" className="block text-sm font-medium text-slate-800">
          Experts folder <span className="block text-xs font-normal text-slate-500">Optional: a folder whose subfolders are its experts (PEFT LoRA adapters)</span>
        </label>
        <input id="model-experts-folder" className={`${inputClass} ${errors.expertsFolder ? "border-red-500 bg-red-50" : ""}`} value={expertsFolder} onChange={(event) => setExpertsFolder(event.target.value)} placeholder="/models/mistral-experts" />
        <FieldError message={errors.expertsFolder} testId="error-model-experts-folder" />
      </div>
      <div className="self-end">
        <button type="submit" disabled={register.isPending} className="rounded bg-sky-700 px-4 py-2 text-sm font-medium text-white hover:bg-sky-800 disabled:opacity-50" data-testid="register">
          {register.isPending ? "Reading…" : "Register"}
        </button>
      </div>
      <FieldError message={errors.other} testId="error-register" />
    </form>
  );
}

type Progress = { phase: string; done: number; total: number } | null;

/** A background job's state: a decoder build or an extraction, running with its phase and a bar, done, or failed with why. */
function JobStatus({ status, progress, errorText, running, testId }: { status: string; progress: Progress; errorText: string | null; running: string; testId: string }) {
  if (status === "ready") return <span className="text-emerald-700">ready</span>;
  if (status === "failed")
    return (
      <span className="text-red-700" data-testid={testId}>
        failed: {errorText}
      </span>
    );
  const percent = progress && progress.total > 0 ? Math.round((100 * progress.done) / progress.total) : 0;
  return (
    <div className="w-48">
      <div className="text-xs text-sky-800">
        {running}
        {progress && `: ${progress.phase} ${progress.done}/${progress.total}`}
      </div>
      <div className="mt-1 h-1.5 rounded bg-slate-200" role="progressbar" aria-valuenow={percent} aria-valuemin={0} aria-valuemax={100}>
        <div className="h-1.5 rounded bg-sky-600" style={{ width: `${percent}%` }} />
      </div>
    </div>
  );
}

type ModelRow = RouterOutputs["models"]["list"][number];
type Extraction = ModelRow["extractions"][number];

const percentText = (fraction: number) => `${(100 * fraction).toPrecision(3)}%`;

/** What an extraction wrote: each expert, an extracted one with its reconstruction errors and what LoRA left behind. */
function ExtractionReport({ extraction }: { extraction: Extraction }) {
  return (
    <table className="mt-2 w-full text-sm" data-testid="extraction-report">
      <thead className="text-left text-xs text-slate-500">
        <tr>
          <th className="py-1">Expert</th>
          <th>From</th>
          <th className="text-right">Error, overall</th>
          <th className="pl-4">Worst module</th>
          <th className="pl-4">Not carried by the LoRA (the fine-tune changed them; the base&apos;s are used)</th>
        </tr>
      </thead>
      <tbody>
        {(extraction.experts ?? []).map((expert) => (
          <tr key={expert.name} className="border-t border-slate-100 align-top" data-testid={`extracted-${expert.name}`}>
            <td className="py-1 font-medium">{expert.name}</td>
            <td className="text-slate-600">{expert.kind === "lora" ? "PEFT LoRA, copied" : `full fine-tune, rank-${extraction.rank} LoRA`}</td>
            <td className="text-right tabular-nums" data-testid="extracted-error">
              {expert.relativeError === null ? "—" : percentText(expert.relativeError)}
            </td>
            <td className="pl-4 text-xs" data-testid="extracted-worst">
              {expert.worstModule ? `${expert.worstModule.name} ${percentText(expert.worstModule.relativeError)}` : "—"}
            </td>
            <td className="pl-4 text-xs text-amber-800" data-testid="extracted-not-carried">
              {expert.kind === "lora" ? "—" : expert.notCarried.length === 0 ? "nothing" : expert.notCarried.map((entry) => `${entry.name} (${percentText(entry.relativeNorm)} change)`).join(", ")}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * LoRA experts extracted from the model's full fine-tunes by the dashboard's server (the import's --extract-rank):
 * the rank, each extraction's progress, and once ready its folder (a search's experts folder) and report.
 */
function Extractions({ model, extractable }: { model: ModelRow; extractable: number }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [rank, setRank] = useState("16");
  const [errors, setErrors] = useState<{ rank?: string; other?: string }>({});
  const extract = useMutation(
    trpc.models.extract.mutationOptions({
      onSuccess: () => {
        setErrors({});
        void queryClient.invalidateQueries({ queryKey: trpc.models.list.queryKey() });
      },
      // The engine's refusal of the rank stands under the field; anything else (one running already) below the button.
      onError: (error) => setErrors(error.data?.field === "rank" ? { rank: error.message } : { other: error.message }),
    }),
  );
  // Any number goes to the server, whose refusal (the engine's) gives the range this model's modules allow.
  const start = (text: string) => {
    const rank = Number(text);
    if (text.trim() === "" || !Number.isFinite(rank)) return setErrors({ rank: `expected an integer >= 1, got "${text}"` });
    extract.mutate({ id: model.id, rank });
  };
  const running = model.extractions.some((extraction) => extraction.status === "running");
  return (
    <div data-testid="extractions">
      <h3 className="text-sm font-semibold uppercase tracking-wide text-slate-500">LoRA experts extracted from full fine-tunes</h3>
      {extractable > 0 && (
        <form
          className="mt-2 flex items-start gap-3"
          noValidate
          onSubmit={(event) => {
            event.preventDefault();
            start(rank);
          }}
        >
          <div className="w-72">
            <label htmlFor="extract-rank" className="block text-sm font-medium text-slate-800">
              Rank <span className="block text-xs font-normal text-slate-500">of the LoRA taken from {extractable === 1 ? "the full fine-tune" : `each of the ${extractable} full fine-tunes`} (truncated SVD of W_fine-tune − W_base)</span>
            </label>
            <input id="extract-rank" inputMode="numeric" className={`${inputClass} ${errors.rank ? "border-red-500 bg-red-50" : ""}`} value={rank} onChange={(event) => setRank(event.target.value)} />
            <FieldError message={errors.rank} testId="error-extract-rank" />
          </div>
          <div className="pt-6">
            <button type="submit" disabled={extract.isPending || running} className="rounded bg-sky-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-sky-800 disabled:opacity-50" data-testid="extract">
              Extract LoRA experts
            </button>
            <p className="mt-1 max-w-md text-xs text-slate-500">Written with copies of the PEFT experts that fit into a folder of the dashboard&apos;s data; your folders are left as they are.</p>
            <FieldError message={errors.other} testId="error-extract" />
          </div>
        </form>
      )}
      {model.extractions.map((extraction) => (
        <div key={extraction.id} className="mt-3 rounded border border-slate-100 p-3" data-testid={`extraction-r${extraction.rank}`} data-status={extraction.status}>
          <div className="flex items-start justify-between gap-3 text-sm">
            <div>
              <span className="font-medium">Rank {extraction.rank}</span> <code className="break-all text-xs text-slate-500" data-testid="extraction-folder">{extraction.folder}</code>
            </div>
            <div data-testid="extraction-status" className="flex items-center gap-2 text-sm">
              <JobStatus status={extraction.status} progress={extraction.progress} errorText={extraction.errorText} running="extracting" testId="extraction-error" />
              {extraction.status === "failed" && (
                <button type="button" className={buttonClass} disabled={extract.isPending || running} onClick={() => extract.mutate({ id: model.id, rank: extraction.rank })}>
                  Extract again
                </button>
              )}
            </div>
          </div>
          {extraction.status === "ready" && <ExtractionReport extraction={extraction} />}
        </div>
      ))}
    </div>
  );
}

function ModelDetail({ listed }: { listed: ModelRow }) {
  const trpc = useTRPC();
  const detail = useQuery(trpc.models.detail.queryOptions({ id: listed.id }));
  if (detail.isPending) return <p className="text-sm text-slate-500">Reading the model folder…</p>;
  if (detail.error) return <p className="text-sm text-red-700">{detail.error.message}</p>;
  const { model, spec, problem, chatTemplate, experts, expertsProblem } = detail.data;
  const usable = experts.filter((expert) => expert.fits).length;
  const extractable = experts.filter((expert) => expert.extractable).length;
  // A fine-tune extracted already is an expert of those folders: its row says so instead of asking for the extraction.
  const extractedRanks = (name: string) =>
    listed.extractions.filter((extraction) => extraction.status === "ready" && (extraction.experts ?? []).some((expert) => expert.name === name && expert.kind === "finetune")).map((extraction) => extraction.rank);
  return (
    <section className="space-y-4 rounded-lg border border-slate-200 bg-white p-4" data-testid="model-detail">
      <h2 className="text-lg font-semibold">{model.name}</h2>
      <p className="break-all font-mono text-xs text-slate-500">{model.folder}</p>
      {model.decoderPath && (
        <p className="break-all text-xs text-slate-500" data-testid="model-decoder">
          Decoders (fp32 for the CPU, fp16 for GPUs): <code>{model.decoderPath}</code> (they read the weights in the model folder)
        </p>
      )}
      {problem && (
        <p className="text-sm text-red-700" role="alert">
          The folder cannot be read now: {problem}
        </p>
      )}
      {spec && (
        <dl className="grid grid-cols-2 gap-x-6 gap-y-1 text-sm md:grid-cols-4" data-testid="model-architecture">
          {[
            ["Family", spec.family],
            ["Layers", spec.numLayers],
            ["Hidden / intermediate", `${spec.hiddenSize} / ${spec.intermediateSize}`],
            ["Heads / kv heads × dim", `${spec.numHeads} / ${spec.numKvHeads} × ${spec.headDim}`],
            ["Vocabulary", spec.vocabSize],
            ["Embeddings", spec.tieWordEmbeddings ? "tied" : "untied"],
            ["Attention", spec.slidingWindow ? `sliding window ${spec.slidingWindow}` : "full"],
            ["Chat template", chatTemplate ? "yes" : "no"],
          ].map(([label, value]) => (
            <div key={label} className="flex justify-between gap-2 border-t border-slate-100 py-1">
              <dt className="text-slate-600">{label}</dt>
              <dd className="font-medium tabular-nums">{value}</dd>
            </div>
          ))}
        </dl>
      )}
      <div>
        <h3 className="text-sm font-semibold uppercase tracking-wide text-slate-500">Experts</h3>
        {!model.expertsFolder ? (
          <p className="text-sm text-slate-600">No experts folder was registered with this model.</p>
        ) : expertsProblem ? (
          <p className="text-sm text-red-700" role="alert" data-testid="experts-problem">
            {expertsProblem}
          </p>
        ) : (
          <>
            <p className="text-sm text-slate-600" data-testid="experts-summary">
              {usable} of {experts.length} folders in <code className="text-xs">{model.expertsFolder}</code> fit this model{usable < 2 && " — a search needs at least two"}.
            </p>
            <table className="mt-2 w-full text-sm" data-testid="model-experts">
              <thead className="text-left text-xs text-slate-500">
                <tr>
                  <th className="py-1">Folder</th>
                  <th>Kind</th>
                  <th>Rank</th>
                  <th>Target modules</th>
                  <th>Fits</th>
                </tr>
              </thead>
              <tbody>
                {experts.map((expert) => (
                  <tr key={expert.folder} className="border-t border-slate-100 align-top" data-testid={`expert-${expert.name}`} data-fits={expert.fits}>
                    <td className="py-1 font-medium">{expert.name}</td>
                    <td className="text-slate-600">{expert.kind === "lora" ? "PEFT LoRA" : expert.kind === "full" ? "full model" : "—"}</td>
                    <td className="tabular-nums">{expert.rank ?? "—"}</td>
                    <td className="text-xs text-slate-600">{expert.targetModules.join(", ")}</td>
                    <td className={expert.fits ? "text-emerald-700" : extractedRanks(expert.name).length > 0 ? "text-xs text-emerald-700" : "text-xs text-red-700"}>
                      {expert.fits ? "yes" : extractedRanks(expert.name).length > 0 ? `extracted at rank ${extractedRanks(expert.name).join(", ")} (below): pick that folder in the new-search form` : expert.reason}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </div>
      {/* The list's row, polled while an extraction runs: its progress moves there. */}
      {(extractable > 0 || listed.extractions.length > 0) && <Extractions model={listed} extractable={extractable} />}
    </section>
  );
}

export default function ModelsPage() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [selected, setSelected] = useState<string | null>(null);
  // Polled while a decoder builds or experts are extracted: the progress moves in the database, written by the server doing it.
  const busy = (models: ModelRow[] | undefined) => models?.some((model) => model.status === "building" || model.extractions.some((extraction) => extraction.status === "running"));
  const models = useQuery(trpc.models.list.queryOptions(undefined, { refetchInterval: (query) => (busy(query.state.data) ? 500 : false) }));
  const refresh = () => void queryClient.invalidateQueries({ queryKey: trpc.models.list.queryKey() });
  const remove = useMutation(trpc.models.remove.mutationOptions({ onSuccess: refresh }));
  const rebuild = useMutation(trpc.models.rebuild.mutationOptions({ onSuccess: refresh }));
  const selectedModel = models.data?.find((model) => model.id === selected);

  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-2xl font-semibold">Models</h1>
        <p className="text-sm text-slate-600">Base models searches run on. Registering reads the folder where it is (nothing is copied) and builds its decoder; removing a registration leaves the folder as it is.</p>
      </div>
      <RegisterForm />
      {models.error && <p className="text-sm text-red-700">Could not list the models: {models.error.message}</p>}
      {(remove.error ?? rebuild.error) && (
        <p className="text-sm text-red-700" data-testid="models-action-error">
          {remove.error ? `Could not remove the registration: ${remove.error.message}` : `Could not build again: ${rebuild.error!.message}`}
        </p>
      )}
      {models.data && (
        <table className="w-full rounded-lg border border-slate-200 bg-white text-sm" data-testid="models-table">
          <thead className="text-left text-xs text-slate-500">
            <tr>
              <th className="px-3 py-2">Model</th>
              <th>Family</th>
              <th className="text-right">Parameters</th>
              <th className="pl-4">Dtype</th>
              <th className="text-right">Size</th>
              <th className="pl-4">Decoder</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {models.data.map((model) => (
              <tr key={model.id} className={`border-t border-slate-100 align-top ${selected === model.id ? "bg-sky-50" : ""}`} data-testid="model-row" data-folder={model.folder} data-status={model.status}>
                <td className="px-3 py-2">
                  <div className="font-medium">{model.name}</div>
                  <div className="break-all font-mono text-xs text-slate-500">{model.folder}</div>
                </td>
                <td className="py-2">{model.family}</td>
                <td className="py-2 text-right tabular-nums">{formatParameters(model.parameters)}</td>
                <td className="py-2 pl-4">{model.dtypes.join("+")}</td>
                <td className="py-2 text-right tabular-nums">
                  {formatBytes(model.weightBytes)}
                  <div className="text-xs text-slate-500">{model.fileCount} file{model.fileCount === 1 ? "" : "s"}</div>
                </td>
                <td className="py-2 pl-4" data-testid="model-status">
                  <JobStatus status={model.status} progress={model.progress} errorText={model.errorText} running="building" testId="model-error" />
                </td>
                <td className="space-x-1 whitespace-nowrap py-2 pr-3 text-right">
                  <button type="button" className={buttonClass} onClick={() => setSelected(model.id)} data-testid="model-details">
                    Details
                  </button>
                  {model.status === "failed" && (
                    <button type="button" className={buttonClass} disabled={rebuild.isPending} onClick={() => rebuild.mutate({ id: model.id })}>
                      Build again
                    </button>
                  )}
                  {!model.builtIn && (
                    <button
                      type="button"
                      className={buttonClass}
                      disabled={remove.isPending}
                      onClick={() => {
                        if (selected === model.id) setSelected(null);
                        remove.mutate({ id: model.id });
                      }}
                      data-testid="model-remove"
                    >
                      Remove
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {selectedModel && <ModelDetail key={selectedModel.id} listed={selectedModel} />}
    </div>
  );
}
