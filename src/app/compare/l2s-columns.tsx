"use client";

import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "@/trpc/react";
import { formatNtr, formatTokens } from "../components/l2s-format";
import { formatUtility } from "../format";

/** A measured model without an NTR says so, rather than look like a model not measured yet. */
function ntrText(model: { ntr: { union: Parameters<typeof formatNtr>[0] } | null } | null, ntrMissing: string | null): string {
  return model && !model.ntr && ntrMissing ? "not measured" : formatNtr(model?.ntr?.union);
}

/**
 * The run page's L2S columns (accuracy, mean generated tokens, negative transfer against the source experts) for
 * the starting and the ending best of each picked run, split by split; re-read as often as the page's other data.
 */
export function L2sCompare({ ids }: { ids: string[] }) {
  const trpc = useTRPC();
  const metrics = useQuery(trpc.l2s.compare.queryOptions({ ids }, { refetchInterval: 5000 }));
  if (!metrics.data) return <p className="text-sm text-slate-500">{metrics.error ? `Could not load the L2S metrics: ${metrics.error.message}` : "Loading L2S metrics…"}</p>;
  const rows = metrics.data.flatMap((run) => (["dev", "test"] as const).map((split) => ({ run, split, metrics: run[split] })));
  return (
    <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
      <table className="w-full text-sm" data-testid="compare-l2s">
        <thead className="bg-slate-100 text-left text-xs text-slate-600">
          <tr>
            <th className="px-3 py-2">Run</th>
            <th className="px-3 py-2">Split</th>
            <th className="px-3 py-2 text-right">Starting best accuracy</th>
            <th className="px-3 py-2 text-right">Starting best tokens</th>
            <th className="px-3 py-2 text-right">Starting best NTR</th>
            <th className="px-3 py-2 text-right">Ending best accuracy</th>
            <th className="px-3 py-2 text-right">Ending best tokens</th>
            <th className="px-3 py-2 text-right" title="Negative-transfer rate (L2S): of the questions at least one source expert answered right, the share the model gets wrong">
              Ending best NTR
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ run, split, metrics: row }) => {
            const missing = row.ntrMissing ? `NTR not measured: ${row.ntrMissing}` : "";
            const ending = row.endingBest;
            if (run.notApplicable) {
              return (
                <tr key={`${run.runId}-${split}`} className="border-t border-slate-100" data-testid="compare-l2s-row" data-run={run.runId} data-split={split}>
                  <td className="px-3 py-1.5">{run.name}</td>
                  <td className="px-3 py-1.5">{split}</td>
                  <td className="px-3 py-1.5 text-slate-600" colSpan={6} data-testid="compare-l2s-not-applicable">
                    {run.notApplicable}
                  </td>
                </tr>
              );
            }
            return (
              <tr key={`${run.runId}-${split}`} className="border-t border-slate-100" data-testid="compare-l2s-row" data-run={run.runId} data-split={split}>
                <td className="px-3 py-1.5">{run.name}</td>
                <td className="px-3 py-1.5">{split}</td>
                <td className="px-3 py-1.5 text-right tabular-nums">{formatUtility(row.startingBest?.accuracy)}</td>
                <td className="px-3 py-1.5 text-right tabular-nums">{formatTokens(row.startingBest?.meanTokens)}</td>
                <td className="px-3 py-1.5 text-right tabular-nums" title={missing}>
                  {ntrText(row.startingBest, row.ntrMissing)}
                </td>
                <td className="px-3 py-1.5 text-right tabular-nums" title={ending && !ending.final ? "the global best so far: the run has not finished" : ""}>
                  {formatUtility(ending?.accuracy)}
                  {ending && !ending.final && <span className="ml-1 text-xs text-amber-700">so far</span>}
                </td>
                <td className="px-3 py-1.5 text-right tabular-nums">{formatTokens(ending?.meanTokens)}</td>
                <td className="px-3 py-1.5 text-right tabular-nums" data-testid="compare-l2s-ntr" title={missing}>
                  {ntrText(ending, row.ntrMissing)}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
