"use client";

import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "@/trpc/react";

/** The runs' settings side by side, as the server compares them (parsed values; derived mode and population size). */
export function SettingsDiff({ ids }: { ids: string[] }) {
  const trpc = useTRPC();
  const diff = useQuery(trpc.runs.settingsDiff.queryOptions({ ids }));
  const [onlyDifferent, setOnlyDifferent] = useState(true);
  const rows = diff.data ?? [];
  const differing = rows.filter((row) => row.differs).length;
  const shown = onlyDifferent ? rows.filter((row) => row.differs) : rows;

  return (
    <div>
      <div className="mb-2 flex items-center justify-between">
        <h2 className="text-sm font-semibold uppercase tracking-wide text-slate-500">Configuration ({differing} differ)</h2>
        <label className="text-xs text-slate-600">
          <input type="checkbox" className="mr-1" checked={onlyDifferent} onChange={(event) => setOnlyDifferent(event.target.checked)} />
          only settings that differ
        </label>
      </div>
      {diff.error && <p className="text-sm text-red-700">Could not compare the settings: {diff.error.message}</p>}
      <div className="overflow-x-auto rounded-lg border border-slate-200 bg-white">
        <table className="w-full text-sm" data-testid="config-diff">
          <tbody>
            {shown.map((row) => (
              <tr key={row.key} className={`border-t border-slate-100 ${row.differs ? "bg-amber-50" : ""}`} data-testid="config-diff-row" data-key={row.key}>
                <td className="px-3 py-1.5 font-mono text-xs text-slate-600">
                  {row.key}
                  {row.derived && (
                    <span className="ml-1 font-sans text-slate-400" title="not a flag: what the run's settings and experts make of it">
                      (derived)
                    </span>
                  )}
                </td>
                {row.shown.map((value, position) => (
                  <td key={position} className="max-w-md break-all px-3 py-1.5 font-mono text-xs">
                    {value}
                  </td>
                ))}
              </tr>
            ))}
            {diff.data && shown.length === 0 && (
              <tr>
                <td className="px-3 py-2 text-slate-500">Identical settings.</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </div>
  );
}
