"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { useTRPC } from "@/trpc/react";
import { StatusBadge } from "./components/status-badge";
import { formatActiveTime, formatStart, formatUtility } from "./format";

type SortField = "createdAt" | "startedAt" | "name" | "status" | "mergeMethod" | "dataset" | "bestTest";
type Sort = { field: SortField; direction: "asc" | "desc" };
const statuses = ["queued", "running", "completed", "failed", "cancelled"] as const;
type Status = (typeof statuses)[number];

/** A column header that sorts the list by its field: one click sorts descending, the next ascending. */
function SortHeader({ field, label, sort, onSort, align = "left" }: { field: SortField; label: string; sort: Sort; onSort: (sort: Sort) => void; align?: "left" | "right" }) {
  const active = sort.field === field;
  return (
    <th className={`px-3 py-2 ${align === "right" ? "text-right" : ""}`} aria-sort={active ? (sort.direction === "asc" ? "ascending" : "descending") : "none"}>
      <button type="button" className="font-medium hover:text-slate-900" data-testid={`sort-${field}`} onClick={() => onSort({ field, direction: active && sort.direction === "desc" ? "asc" : "desc" })}>
        {label} <span className="text-slate-400">{active ? (sort.direction === "asc" ? "▲" : "▼") : "↕"}</span>
      </button>
    </th>
  );
}

function FilterSelect({ label, value, options, onChange, testId }: { label: string; value: string; options: readonly string[]; onChange: (value: string) => void; testId: string }) {
  return (
    <label className="flex items-center gap-1 text-slate-600">
      {label}
      <select className="rounded border border-slate-300 bg-white px-2 py-1" value={value} onChange={(event) => onChange(event.target.value)} data-testid={testId}>
        <option value="">any</option>
        {options.map((option) => (
          <option key={option} value={option}>
            {option}
          </option>
        ))}
      </select>
    </label>
  );
}

export default function RunsPage() {
  const trpc = useTRPC();
  const router = useRouter();
  const [sort, setSort] = useState<Sort>({ field: "createdAt", direction: "desc" });
  const [status, setStatus] = useState<Status | "">("");
  const [mergeMethod, setMergeMethod] = useState("");
  const [dataset, setDataset] = useState("");
  const [tag, setTag] = useState("");
  const [showArchived, setShowArchived] = useState(false);
  const filtered = Boolean(status || mergeMethod || dataset || tag);
  const choices = useQuery(trpc.runs.filterChoices.queryOptions());
  const runs = useQuery(
    trpc.runs.list.queryOptions(
      {
        sort: sort.field,
        direction: sort.direction,
        status: status ? [status] : undefined,
        mergeMethod: mergeMethod || undefined,
        dataset: dataset || undefined,
        tag: tag || undefined,
        showArchived,
      },
      {
      // Live while anything is queued or running; each poll is one indexed query.
        refetchInterval: (query) => (query.state.data?.some((run) => run.status === "queued" || (run.status === "running" && !run.stale)) ? 2000 : 10_000),
      },
    ),
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
      <div className="mb-3 flex flex-wrap items-center gap-3 text-sm" data-testid="run-filters">
        <FilterSelect label="Status" value={status} options={statuses} onChange={(value) => setStatus(value as Status | "")} testId="filter-status" />
        <FilterSelect label="Method" value={mergeMethod} options={choices.data?.mergeMethods ?? []} onChange={setMergeMethod} testId="filter-method" />
        <FilterSelect label="Dataset" value={dataset} options={choices.data?.datasets ?? []} onChange={setDataset} testId="filter-dataset" />
        <FilterSelect label="Tag" value={tag} options={choices.data?.tags ?? []} onChange={setTag} testId="filter-tag" />
        <label className="flex items-center gap-1 text-slate-600">
          <input type="checkbox" checked={showArchived} onChange={(event) => setShowArchived(event.target.checked)} data-testid="show-archived" />
          show archived
        </label>
      </div>
      {runs.isPending && <p className="text-sm text-slate-500">Loading runs…</p>}
      {runs.error && <p className="text-sm text-red-700">Could not load runs: {runs.error.message}</p>}
      {runs.data?.length === 0 && filtered && (
        <p className="rounded-lg border border-dashed border-slate-300 bg-white p-6 text-center text-sm text-slate-600" data-testid="runs-none-match">
          No run matches these filters.
        </p>
      )}
      {runs.data?.length === 0 && !filtered && (
        <div className="rounded-lg border border-dashed border-slate-300 bg-white p-8 text-center text-sm text-slate-600" data-testid="runs-empty">
          No runs yet. <Link href="/runs/new" className="text-sky-700 underline">Launch one</Link> or run <code>npm run search</code>.
        </div>
      )}
      {runs.data && runs.data.length > 0 && (
        <table className="w-full overflow-hidden rounded-lg border border-slate-200 bg-white text-sm" data-testid="runs-table">
          <thead className="bg-slate-100 text-left text-slate-600">
            <tr>
              <th className="w-8 px-3 py-2" />
              <SortHeader field="name" label="Name" sort={sort} onSort={setSort} />
              <SortHeader field="status" label="Status" sort={sort} onSort={setSort} />
              <SortHeader field="mergeMethod" label="Method" sort={sort} onSort={setSort} />
              <th className="px-3 py-2">Mode</th>
              <SortHeader field="dataset" label="Dataset" sort={sort} onSort={setSort} />
              <SortHeader field="startedAt" label="Started" sort={sort} onSort={setSort} />
              <th className="px-3 py-2 text-right">Best dev</th>
              <SortHeader field="bestTest" label="Best test" sort={sort} onSort={setSort} align="right" />
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
                  {run.archivedAt && <span className="ml-2 rounded bg-slate-200 px-1.5 py-0.5 text-xs text-slate-600">archived</span>}
                  {run.tags.length > 0 && (
                    <div className="mt-1 flex flex-wrap gap-1" data-testid="run-tags">
                      {run.tags.map((entry) => (
                        <button key={entry} type="button" onClick={() => setTag(entry)} className="rounded bg-sky-50 px-1.5 py-0.5 text-xs font-normal text-sky-800 hover:bg-sky-100" title={`show runs tagged ${entry}`}>
                          {entry}
                        </button>
                      ))}
                    </div>
                  )}
                  {run.notes && (
                    <p className="mt-1 max-w-xs truncate text-xs font-normal text-slate-500" title={run.notes} data-testid="run-notes">
                      {run.notes}
                    </p>
                  )}
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
                <td className="px-3 py-2" data-testid="run-mode">{run.mode ?? "—"}</td>
                <td className="px-3 py-2">
                  {run.dataset} <span className="text-slate-400">({run.evalType})</span>
                </td>
                <td className="px-3 py-2 whitespace-nowrap tabular-nums" title={run.activeTime.firstStartedAt?.toISOString()}>
                  {formatStart(run.activeTime.firstStartedAt)}
                </td>
                <td className="px-3 py-2 text-right tabular-nums">{formatUtility(run.bestDevSoFar)}</td>
                <td className="px-3 py-2 text-right tabular-nums">{formatUtility(run.endingBestSingleTestAccuracy)}</td>
                <td className="px-3 py-2 text-right tabular-nums">{formatActiveTime(run.activeTime)}</td>
                <td className="px-3 py-2">{run.origin === "cli" ? "CLI" : "Dashboard"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
