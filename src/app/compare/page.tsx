"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { Suspense, useState } from "react";
import { formatTestGain } from "@/shared/test-gain";
import { useTRPC } from "@/trpc/react";
import { BestSoFarChart } from "./best-so-far-chart";
import { CANDIDATE_COLORS } from "../components/chart-style";
import { StatusBadge } from "../components/status-badge";
import { formatActiveTime, formatUtility } from "../format";
import { L2sCompare } from "./l2s-columns";
import { SettingsDiff } from "./settings-diff";

function Compare() {
  const params = useSearchParams();
  const ids = (params.get("ids") ?? "").split(",").filter(Boolean).slice(0, 4);
  const trpc = useTRPC();
  const runs = useQuery(trpc.runs.compare.queryOptions({ ids }, { enabled: ids.length >= 1, refetchInterval: 5000 }));
  const [onlyDisagree, setOnlyDisagree] = useState(false);

  if (ids.length < 2) return <p className="text-sm text-slate-600">Pick 2–4 runs on the <Link href="/" className="text-sky-700 underline">runs page</Link> to compare them.</p>;
  if (runs.isPending) return <p className="text-sm text-slate-500">Loading runs…</p>;
  if (!runs.data) return <p className="text-sm text-red-700">Could not load the runs: {runs.error?.message}</p>;
  const data = runs.data;


  // Per-question diff: only meaningful when the best candidates answered the same questions.
  const comparable = data.every((run) => run.best && run.dataset === data[0]!.dataset && run.best.split === data[0]!.best?.split);
  const questionIndices = comparable ? [...new Set(data.flatMap((run) => run.best!.results.map((result) => result.index)))].sort((a, b) => a - b) : [];
  const questionRows = questionIndices
    .map((index) => ({ index, results: data.map((run) => run.best!.results.find((result) => result.index === index)) }))
    .filter((row) => !onlyDisagree || new Set(row.results.map((result) => result?.correct)).size > 1);
  const disagreements = questionIndices.filter((index) => new Set(data.map((run) => run.best!.results.find((result) => result.index === index)?.correct)).size > 1).length;

  const metrics: Array<[string, (run: (typeof data)[number]) => React.ReactNode]> = [
    ["Status", (run) => <StatusBadge status={run.status} />],
    ["Method", (run) => run.mergeMethod],
    ["Dataset", (run) => `${run.dataset} (${run.evalType})`],
    ["Iterations", (run) => run.iterations.length],
    ["Starting best dev", (run) => formatUtility(run.startingBestValidationUtility ?? run.iterations[0]?.globalBestUtility)],
    ["Ending best dev", (run) => formatUtility(run.endingBestValidationUtility ?? run.iterations.at(-1)?.globalBestUtility)],
    ["Starting best test", (run) => formatUtility(run.startingBestSingleTestAccuracy)],
    ["Ending best test", (run) => formatUtility(run.endingBestSingleTestAccuracy)],
    ["Test gain", (run) => formatTestGain(run.startingBestSingleTestAccuracy, run.endingBestSingleTestAccuracy, run.orientation, run.utilityAxis.accuracy)],
    ["Duration", (run) => formatActiveTime(run.activeTime)],
    ["Eval time / iteration", (run) => (run.iterations.length ? `${(run.iterations.reduce((sum, iteration) => sum + iteration.evalMs, 0) / run.iterations.length / 1000).toFixed(1)} s` : "—")],
  ];

  return (
    <section className="space-y-6" data-testid="compare">
      <h1 className="text-2xl font-semibold">Compare {data.length} runs</h1>

      <div className="rounded-lg border border-slate-200 bg-white p-4">
        <h2 className="mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500">Best so far over candidate evaluations</h2>
        <BestSoFarChart runs={data} />
      </div>

      <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
        <table className="w-full text-sm" data-testid="compare-metrics">
          <thead className="bg-slate-100 text-left text-slate-600">
            <tr>
              <th className="px-3 py-2">Metric</th>
              {data.map((run, position) => (
                <th key={run.id} className="px-3 py-2">
                  <span className="mr-1 inline-block h-2 w-2 rounded-full" style={{ background: CANDIDATE_COLORS[position] }} />
                  <Link href={`/runs/${run.id}`} className="hover:underline">
                    {run.name}
                  </Link>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {metrics.map(([label, value]) => (
              <tr key={label} className="border-t border-slate-100">
                <td className="px-3 py-1.5 text-slate-600">{label}</td>
                {data.map((run) => (
                  <td key={run.id} className="px-3 py-1.5 tabular-nums">
                    {value(run)}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <div>
        <h2 className="mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500">Accuracy, tokens, negative transfer (L2S)</h2>
        <L2sCompare ids={ids} />
      </div>

      <SettingsDiff ids={ids} />

      <div>
        <div className="mb-2 flex items-center justify-between">
          <h2 className="text-sm font-semibold uppercase tracking-wide text-slate-500">
            Best candidates, question by question {comparable && `(${data[0]!.best!.split}; ${disagreements} disagreements)`}
          </h2>
          {comparable && (
            <label className="text-xs text-slate-600">
              <input type="checkbox" className="mr-1" checked={onlyDisagree} onChange={(event) => setOnlyDisagree(event.target.checked)} />
              only where they disagree
            </label>
          )}
        </div>
        {!comparable ? (
          <p className="text-sm text-slate-500">The runs use different datasets or splits (or have no evaluations yet), so their answers cannot be lined up.</p>
        ) : (
          <div className="max-h-[32rem] overflow-auto rounded-lg border border-slate-200 bg-white">
            <table className="w-full text-sm" data-testid="question-diff">
              <thead className="sticky top-0 bg-slate-100 text-left text-xs text-slate-600">
                <tr>
                  <th className="px-3 py-2">#</th>
                  <th className="px-3 py-2">Question</th>
                  <th className="px-3 py-2">Gold</th>
                  {data.map((run) => (
                    <th key={run.id} className="px-3 py-2">
                      {run.name}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {questionRows.map((row) => {
                  const first = row.results.find(Boolean);
                  const disagree = new Set(row.results.map((result) => result?.correct)).size > 1;
                  return (
                    <tr key={row.index} className={`border-t border-slate-100 ${disagree ? "bg-amber-50" : ""}`} data-testid="question-diff-row">
                      <td className="px-3 py-1.5 tabular-nums">{row.index}</td>
                      <td className="max-w-sm truncate px-3 py-1.5" title={first?.question ?? ""}>
                        {first?.question ?? "—"}
                      </td>
                      <td className="px-3 py-1.5">{first?.gold ?? "—"}</td>
                      {row.results.map((result, position) => (
                        <td key={position} className="max-w-[14rem] truncate px-3 py-1.5 font-mono text-xs" title={result?.prediction}>
                          <span className={result?.correct ? "text-emerald-700" : "text-red-700"}>{result ? (result.correct ? "✓" : "✗") : "–"}</span> {result?.prediction}
                        </td>
                      ))}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </section>
  );
}

export default function ComparePage() {
  return (
    <Suspense fallback={<p className="text-sm text-slate-500">Loading…</p>}>
      <Compare />
    </Suspense>
  );
}
