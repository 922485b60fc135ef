"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useTRPC } from "@/trpc/react";

/*
 * The base model of a search, picked among the Models page's registered models (and the bundled zoo): picking one
 * fills --base_model with its folder and --initial_expert_directory with its experts folder, and shows which of
 * those experts fit it; the experts extracted from its full fine-tunes on the Models page are a second choice of
 * experts folder. The two fields stay paths the user may still type.
 */

/** Whether the folder a model was registered with (absolute) is the one `typed` names (absolute, or relative to the checkout). */
function sameFolder(registered: string, typed: string): boolean {
  const trimmed = typed.trim().replace(/\/+$/, "");
  if (trimmed.startsWith("/")) return registered === trimmed;
  return trimmed !== "" && registered.endsWith(`/${trimmed.replace(/^\.\//, "")}`);
}

export function BaseModelPicker({
  baseModel,
  expertDirectory,
  onPick,
}: {
  baseModel: string;
  expertDirectory: string;
  onPick: (field: "baseModel" | "initialExpertDirectory", value: string) => void;
}) {
  const trpc = useTRPC();
  const models = useQuery(trpc.models.list.queryOptions(undefined, { refetchInterval: (query) => (query.state.data?.some((model) => model.status === "building") ? 1_000 : false) }));
  const chosen = models.data?.find((model) => sameFolder(model.folder, baseModel));
  const detail = useQuery(trpc.models.detail.queryOptions({ id: chosen?.id ?? "" }, { enabled: chosen !== undefined }));

  const pick = (id: string) => {
    const model = models.data?.find((entry) => entry.id === id);
    if (!model) return;
    onPick("baseModel", model.folder);
    if (model.expertsFolder) onPick("initialExpertDirectory", model.expertsFolder);
  };
  const experts = chosen && detail.data?.model.id === chosen.id ? detail.data.experts : [];
  const fitting = experts.filter((expert) => expert.fits);
  const refused = experts.filter((expert) => !expert.fits);
  const extracted = chosen?.extractions.filter((extraction) => extraction.status === "ready") ?? [];
  const extraction = extracted.find((entry) => sameFolder(entry.folder, expertDirectory));

  return (
    <section className="rounded-lg border border-slate-200 bg-white p-4" data-testid="base-model-picker">
      <h2 className="mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500">Base model</h2>
      <div className="md:w-1/2">
        <label htmlFor="input-registered-model" className="block text-sm font-medium text-slate-800">
          Registered model{" "}
          <span className="block text-xs font-normal text-slate-500">
            Fills the base model and expert folder fields below; register more on the{" "}
            <Link href="/models" className="text-sky-700 underline">
              Models page
            </Link>
          </span>
        </label>
        <select id="input-registered-model" className="mt-1 w-full rounded border border-slate-300 bg-white px-2 py-1 text-sm" value={chosen?.id ?? ""} onChange={(event) => pick(event.target.value)}>
          {!chosen && <option value="">{baseModel ? `${baseModel} (not registered)` : "(choose a model)"}</option>}
          {models.data?.map((model) => (
            <option key={model.id} value={model.id} disabled={model.status !== "ready"}>
              {model.name} — {model.family}
              {model.status === "ready" ? "" : ` (decoder ${model.status})`}
            </option>
          ))}
        </select>
      </div>
      {chosen && extracted.length > 0 && (
        <div className="mt-3 md:w-1/2">
          <label htmlFor="input-model-experts" className="block text-sm font-medium text-slate-800">
            Experts <span className="block text-xs font-normal text-slate-500">The registered experts folder, or the LoRA experts extracted from its full fine-tunes on the Models page</span>
          </label>
          <select
            id="input-model-experts"
            className="mt-1 w-full rounded border border-slate-300 bg-white px-2 py-1 text-sm"
            value={extraction?.folder ?? (chosen.expertsFolder && sameFolder(chosen.expertsFolder, expertDirectory) ? chosen.expertsFolder : "")}
            onChange={(event) => onPick("initialExpertDirectory", event.target.value)}
          >
            {!extraction && !(chosen.expertsFolder && sameFolder(chosen.expertsFolder, expertDirectory)) && <option value="">{expertDirectory || "(choose a folder)"}</option>}
            {chosen.expertsFolder && <option value={chosen.expertsFolder}>registered: {chosen.expertsFolder}</option>}
            {extracted.map((entry) => (
              <option key={entry.id} value={entry.folder}>
                rank-{entry.rank} LoRAs extracted: {entry.folder}
              </option>
            ))}
          </select>
        </div>
      )}
      {extraction && (
        <p className="mt-3 text-sm text-slate-700" data-testid="picker-experts">
          <b>{extraction.experts?.length ?? 0}</b> experts extracted at rank {extraction.rank} for {chosen?.name}: {(extraction.experts ?? []).map((expert) => expert.name).join(", ")}.
        </p>
      )}
      {!extraction && chosen && chosen.expertsFolder && detail.data && (
        <div className="mt-3 text-sm" data-testid="picker-experts">
          <p className="text-slate-700">
            <b>{fitting.length}</b> of {experts.length} folders in <code className="text-xs">{chosen.expertsFolder}</code> fit {chosen.name}
            {fitting.length > 0 && `: ${fitting.map((expert) => expert.name).join(", ")}`}.
          </p>
          {refused.length > 0 && (
            <ul className="mt-1 list-disc pl-5 text-xs text-amber-800">
              {refused.map((expert) => (
                <li key={expert.folder}>
                  {expert.name}: {expert.reason}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}
