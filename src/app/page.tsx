"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { useTRPC } from "@/trpc/react";
import { StatusBadge } from "./components/status-badge";
import { formatDuration, formatUtility } from "./format";

export default function RunsPage() {
  const trpc = useTRPC();
  const router = useRouter();
  const runs = useQuery(
    trpc.runs.list.queryOptions(undefined, {
      // Live while anything is queued or running; each poll is one indexed query.
      refetchInterval: (query) => (query.state.data?.some((run) => run.status === "queued" || (run.status === "running" && !run.stale)) ? 2000 : 10_000),
    }),
  );
  const [selected, setSelected] = useState<string[]>([]);
  const toggle = (id: string, on: boolean) => setSelected((current) => (on ? [...current, id].slice(-4) : current.filter((entry) => entry !== id)));

  return (
    <section>
      <div className="mb-6 flex flex-wrap items-end justify-between gap-4">
        <div>
          <h1 className="mb-1 text-2xl font-semibold">Runs</h1>
          <p className="text-sm text-slate-600">Every merge search, from the dashboard or the command line.</p>
        </div>
        <div className="flex items-center gap-2">
          <button
            type="button"
            disabled={selected.length < 2}
            onClick={() => router.push(`/compare?ids=${selected.join(",")}`)}
            className="rounded border border-slate-300 bg-white px-3 py-1.5 text-sm disabled:opacity-40"
            data-testid="compare-selected"
            title="Select 2–4 runs"
          >
            Compare {selected.length > 0 ? `(${selected.length})` : ""}
          </button>
          <Link href="/runs/new" className="rounded bg-sky-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-sky-800" data-testid="new-search">
            New search
          </Link>
        </div>
      </div>
      {runs.isPending && <p className="text-sm text-slate-500">Loading runs…</p>}
      {runs.error && <p className="text-sm text-red-700">Could not load runs: {runs.error.message}</p>}
      {runs.data?.length === 0 && (
        <div className="rounded-lg border border-dashed border-slate-300 bg-white p-8 text-center text-sm text-slate-600" data-testid="runs-empty">
          No runs yet. <Link href="/runs/new" className="text-sky-700 underline">Launch one</Link> or run <code>npm run search</code>.
        </div>
      )}
      {runs.data && runs.data.length > 0 && (
        <table className="w-full overflow-hidden rounded-lg border border-slate-200 bg-white text-sm" data-testid="runs-table">
          <thead className="bg-slate-100 text-left text-slate-600">
            <tr>
              <th className="w-8 px-3 py-2" />
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
              <tr key={run.id} className="border-t border-slate-100 hover:bg-slate-50" data-testid="run-row" data-run-name={run.name}>
                <td className="px-3 py-2">
                  <input type="checkbox" aria-label={`select ${run.name}`} checked={selected.includes(run.id)} onChange={(event) => toggle(run.id, event.target.checked)} />
                </td>
                <td className="px-3 py-2 font-medium">
                  <Link href={`/runs/${run.id}`} className="text-sky-800 hover:underline">
                    {run.name}
                  </Link>
                </td>
                <td className="px-3 py-2">
                  <StatusBadge status={run.status} stale={run.stale} />
                  {run.status === "running" && run.maxIteration != null && (
                    <span className="ml-2 text-xs text-slate-500 tabular-nums">
                      {run.lastIteration ?? 0}/{run.maxIteration}
                    </span>
                  )}
                </td>
                <td className="px-3 py-2">{run.mergeMethod}</td>
                <td className="px-3 py-2">
                  {run.dataset} <span className="text-slate-400">({run.evalType})</span>
                </td>
                <td className="px-3 py-2 text-right tabular-nums">{formatUtility(run.bestDevSoFar)}</td>
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
