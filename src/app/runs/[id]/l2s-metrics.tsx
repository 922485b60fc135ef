"use client";

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { useTRPC, type RouterOutputs } from "@/trpc/react";
import { formatNtr, formatTokens } from "../../components/l2s-format";
import { formatUtility } from "../../format";

type SplitMetrics = RouterOutputs["l2s"]["run"]["dev"];

function perExpertTitle(ntr: NonNullable<SplitMetrics["endingBest"]>["ntr"], experts: SplitMetrics["experts"]): string {
  if (!ntr) return "";
  return ntr.perSource.map((entry, position) => `against ${experts[position]?.name ?? `expert ${position}`}: ${formatNtr(entry)}`).join("\n");
}

function SplitRows({ metrics }: { metrics: SplitMetrics }) {
  const models = [metrics.startingBest, metrics.endingBest].filter((model) => model !== null);
  if (models.length === 0) {
    return (
      <tr className="border-t border-slate-100" data-testid="l2s-row" data-split={metrics.split} data-model="none">
        <td className="px-3 py-1.5 font-medium">{metrics.split}</td>
        <td colSpan={5} className="px-3 py-1.5 text-slate-500">
          not measured yet
        </td>
      </tr>
    );
  }
  return models.map((model) => (
    <tr key={model.role} className="border-t border-slate-100" data-testid="l2s-row" data-split={metrics.split} data-model={model.role}>
      <td className="px-3 py-1.5 font-medium">{metrics.split}</td>
      <td className="px-3 py-1.5 text-slate-700">{model.label}</td>
      <td className="px-3 py-1.5 text-right tabular-nums" data-testid="l2s-accuracy">
        {formatUtility(model.accuracy)}
      </td>
      <td className="px-3 py-1.5 text-right tabular-nums" data-testid="l2s-tokens">
        {formatTokens(model.meanTokens)}
      </td>
      <td className="px-3 py-1.5 text-right tabular-nums" data-testid="l2s-ntr" title={model.ntr ? perExpertTitle(model.ntr, metrics.experts) : (metrics.ntrMissing ?? "")}>
        {model.ntr ? formatNtr(model.ntr.union) : <span className="text-slate-400">not measured</span>}
      </td>
      <td className="px-3 py-1.5 text-xs text-slate-600" data-testid="l2s-ntr-per-expert">
        {model.ntr ? model.ntr.perSource.map((entry, position) => `${metrics.experts[position]?.name}: ${entry.rate == null ? "—" : entry.rate.toFixed(2)}`).join(" · ") : ""}
      </td>
    </tr>
  ));
}

const scoresHref = (id: string, split: "dev" | "test", format: "csv" | "json") => `/api/runs/${id}/scores?split=${split}&format=${format}`;

/**
 * The L2S project's metrics beside utility: accuracy, mean generated tokens and the negative-transfer rate against
 * the source experts, for the starting and the ending best, and the per-question 0/1 tables to download.
 * `refreshKey` changes with the run's events, so the panel follows a running search as the page's other data does.
 */
export function L2sMetricsPanel({ id, refreshKey }: { id: string; refreshKey: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const metrics = useQuery(trpc.l2s.run.queryOptions({ id }));
  // The first key is the one the query was just fetched for; each later one is news from the run's events.
  const fetchedFor = useRef(refreshKey);
  useEffect(() => {
    if (fetchedFor.current === refreshKey) return;
    fetchedFor.current = refreshKey;
    // A reload replays the run's events in a burst: one re-read after it, not one per event.
    const timer = setTimeout(() => void queryClient.invalidateQueries({ queryKey: trpc.l2s.run.queryKey({ id }) }), 150);
    return () => clearTimeout(timer);
  }, [queryClient, trpc, id, refreshKey]);

  if (!metrics.data) return <p className="text-sm text-slate-500">{metrics.error ? `Could not load the metrics: ${metrics.error.message}` : "Loading metrics…"}</p>;
  const data = metrics.data;
  if (data.notApplicable) {
    return (
      <p className="rounded-lg border border-slate-200 bg-white p-4 text-sm text-slate-600" data-testid="l2s-panel">
        {data.notApplicable}
      </p>
    );
  }
  const notes = [data.dev, data.test].filter((split) => split.ntrMissing).map((split) => `${split.split}: NTR not measured, ${split.ntrMissing}.`);
  return (
    <div className="space-y-2 rounded-lg border border-slate-200 bg-white p-4 text-sm" data-testid="l2s-panel">
      <table className="w-full text-sm">
        <thead className="text-left text-xs text-slate-600">
          <tr>
            <th className="px-3 py-1">Split</th>
            <th className="px-3 py-1">Model</th>
            <th className="px-3 py-1 text-right">Accuracy</th>
            <th className="px-3 py-1 text-right">Mean tokens</th>
            <th className="px-3 py-1 text-right" title="Negative-transfer rate (L2S): of the questions at least one source expert answered right, the share this model gets wrong">
              NTR (lost/eligible)
            </th>
            <th className="px-3 py-1">NTR per expert</th>
          </tr>
        </thead>
        <tbody>
          <SplitRows metrics={data.dev} />
          <SplitRows metrics={data.test} />
        </tbody>
      </table>
      {notes.length > 0 && (
        <p className="text-xs text-slate-500" data-testid="l2s-notes">
          {notes.join(" ")}
        </p>
      )}
      <div className="flex flex-wrap gap-3 border-t border-slate-100 pt-2 text-xs">
        <span className="text-slate-600">Per-question 0/1 scores, one row per model:</span>
        {(["dev", "test"] as const)
          .filter((split) => data[split].startingBest || data[split].endingBest)
          .flatMap((split) =>
            (["csv", "json"] as const).map((format) => (
              <a key={`${split}-${format}`} className="font-medium text-sky-700 underline" href={scoresHref(id, split, format)} download data-testid={`download-scores-${split}-${format}`}>
                {split}.{format}
              </a>
            )),
          )}
      </div>
    </div>
  );
}
