"use client";

import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "@/trpc/react";
import { formatUtility, formatDuration } from "./format";

export default function RunsPage() {
  const trpc = useTRPC();
  const runs = useQuery(trpc.runs.list.queryOptions());

  return (
    <section>
      <h1 className="mb-1 text-2xl font-semibold">Runs</h1>
      <p className="mb-6 text-sm text-slate-600">Every merge search, from the dashboard or the command line.</p>
      {runs.isPending && <p className="text-sm text-slate-500">Loading runs…</p>}
      {runs.error && <p className="text-sm text-red-700">Could not load runs: {runs.error.message}</p>}
      {runs.data?.length === 0 && (
        <div className="rounded-lg border border-dashed border-slate-300 bg-white p-8 text-center text-sm text-slate-600" data-testid="runs-empty">
          No runs yet.
        </div>
      )}
      {runs.data && runs.data.length > 0 && (
        <table className="w-full overflow-hidden rounded-lg border border-slate-200 bg-white text-sm" data-testid="runs-table">
          <thead className="bg-slate-100 text-left text-slate-600">
            <tr>
              <th className="px-3 py-2">Name</th>
              <th className="px-3 py-2">Status</th>
              <th className="px-3 py-2">Method</th>
              <th className="px-3 py-2">Dataset</th>
              <th className="px-3 py-2 text-right">Best dev</th>
              <th className="px-3 py-2 text-right">Best test</th>
              <th className="px-3 py-2 text-right">Duration</th>
              <th className="px-3 py-2">Started by</th>
            </tr>
          </thead>
          <tbody>
            {runs.data.map((run) => (
              <tr key={run.id} className="border-t border-slate-100">
                <td className="px-3 py-2 font-medium">{run.name}</td>
                <td className="px-3 py-2">{run.status}</td>
                <td className="px-3 py-2">{run.mergeMethod}</td>
                <td className="px-3 py-2">
                  {run.dataset} <span className="text-slate-400">({run.evalType})</span>
                </td>
                <td className="px-3 py-2 text-right tabular-nums">{formatUtility(run.endingBestValidationUtility)}</td>
                <td className="px-3 py-2 text-right tabular-nums">{formatUtility(run.endingBestSingleTestAccuracy)}</td>
                <td className="px-3 py-2 text-right tabular-nums">{formatDuration(run.startedAt, run.finishedAt)}</td>
                <td className="px-3 py-2">{run.origin === "cli" ? "CLI" : "Dashboard"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
