"use client";

import { memo, useDeferredValue } from "react";
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { formatBytes } from "../../format";
import { candidateStroke } from "../../components/chart-style";
import type { IterationPoint } from "./use-run-events";

const MERGE_COLOR = "#b07aa1";
const EVAL_COLOR = "#4e79a7";

/** A device's name on the charts: its host only where the run's devices span more than one. */
function deviceNames(iterations: readonly IterationPoint[]) {
  const devices = new Map<string, { host: string; name: string }>();
  for (const iteration of iterations) for (const device of iteration.devices ?? []) devices.set(JSON.stringify([device.host, device.name]), device);
  const hosts = new Set([...devices.values()].map((device) => device.host));
  return [...devices.entries()].map(([key, device]) => ({ key, label: hosts.size > 1 ? `${device.host} ${device.name}` : device.name }));
}

/**
 * Per iteration: merge and evaluation time, each device's questions per second, and the memory it held after. Drawn
 * from a deferred copy of the iterations: the utility chart's new point is painted first, these charts after it.
 */
export function TimeView({ iterations }: { iterations: readonly IterationPoint[] }) {
  return <TimeCharts iterations={useDeferredValue(iterations)} />;
}

const TimeCharts = memo(function TimeCharts({ iterations }: { iterations: readonly IterationPoint[] }) {
  if (iterations.length === 0) return <p className="text-sm text-slate-500">No iteration recorded yet.</p>;
  const devices = deviceNames(iterations);
  const rows = iterations.map((iteration) => {
    const row: Record<string, number | null> = { index: iteration.index, merge: iteration.mergeMs / 1000, eval: iteration.evalMs / 1000 };
    for (const device of iteration.devices ?? []) {
      const key = JSON.stringify([device.host, device.name]);
      row[`rate ${key}`] = device.questionsPerSecond;
      row[`memory ${key}`] = device.memoryBytes === null ? null : device.memoryBytes / 2 ** 30;
    }
    return row;
  });
  const mergeTotal = iterations.reduce((sum, iteration) => sum + iteration.mergeMs, 0) / 1000;
  const evalTotal = iterations.reduce((sum, iteration) => sum + iteration.evalMs, 0) / 1000;
  const last = iterations.at(-1)!;
  return (
    <div className="space-y-3" data-testid="time-view" data-iterations={iterations.length} data-devices={devices.map((device) => device.label).join(",")}>
      <p className="text-xs text-slate-600" data-testid="time-totals">
        merging {mergeTotal.toFixed(1)} s · evaluating {evalTotal.toFixed(1)} s over {iterations.length} iterations
        {last.devices?.map((device) => (
          <span key={`${device.host} ${device.name}`} className="ml-3" data-testid="device-figures" data-device={device.name}>
            {devices.length > 1 ? `${device.host} ` : ""}
            {device.name}: {device.questionsPerSecond === null ? "—" : `${device.questionsPerSecond.toFixed(1)} questions/s`} · {device.memoryBytes === null ? "memory unknown" : formatBytes(device.memoryBytes)} in use
          </span>
        ))}
      </p>
      <div className="grid gap-3 lg:grid-cols-3">
        <figure className="rounded-lg border border-slate-200 bg-white p-2">
          <figcaption className="text-xs text-slate-500">Seconds per iteration</figcaption>
          <ResponsiveContainer width="100%" height={180}>
            <BarChart data={rows} margin={{ top: 5, right: 5, bottom: 0, left: 0 }}>
              <CartesianGrid stroke="#e2e8f0" vertical={false} />
              <XAxis dataKey="index" tick={{ fontSize: 10 }} />
              <YAxis tick={{ fontSize: 10 }} width={40} />
              <Tooltip formatter={(value) => `${Number(value).toFixed(2)} s`} labelFormatter={(label) => `iteration ${label}`} />
              <Legend wrapperStyle={{ fontSize: 11 }} />
              <Bar dataKey="merge" name="merge" stackId="time" fill={MERGE_COLOR} isAnimationActive={false} />
              <Bar dataKey="eval" name="evaluation" stackId="time" fill={EVAL_COLOR} isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </figure>
        <figure className="rounded-lg border border-slate-200 bg-white p-2">
          <figcaption className="text-xs text-slate-500">Questions per second, per device</figcaption>
          <DeviceLines rows={rows} devices={devices} prefix="rate" unit="questions/s" />
        </figure>
        <figure className="rounded-lg border border-slate-200 bg-white p-2">
          <figcaption className="text-xs text-slate-500">Memory in use after the iteration (GiB): the process on the CPU, the GPU&apos;s own</figcaption>
          <DeviceLines rows={rows} devices={devices} prefix="memory" unit="GiB" />
        </figure>
      </div>
    </div>
  );
});

function DeviceLines({ rows, devices, prefix, unit }: { rows: Array<Record<string, number | null>>; devices: Array<{ key: string; label: string }>; prefix: string; unit: string }) {
  if (devices.length === 0) return <p className="flex h-44 items-center justify-center text-xs text-slate-500">Not recorded for this run&apos;s iterations.</p>;
  return (
    <ResponsiveContainer width="100%" height={180}>
      <LineChart data={rows} margin={{ top: 5, right: 5, bottom: 0, left: 0 }}>
        <CartesianGrid stroke="#e2e8f0" vertical={false} />
        <XAxis dataKey="index" tick={{ fontSize: 10 }} />
        <YAxis tick={{ fontSize: 10 }} width={40} domain={[0, "auto"]} />
        <Tooltip formatter={(value) => `${Number(value).toFixed(2)} ${unit}`} labelFormatter={(label) => `iteration ${label}`} />
        <Legend wrapperStyle={{ fontSize: 11 }} />
        {devices.map((device, index) => (
          <Line key={device.key} dataKey={`${prefix} ${device.key}`} name={device.label} stroke={candidateStroke(index).color} strokeDasharray={candidateStroke(index).dash} dot={{ r: 2 }} connectNulls isAnimationActive={false} />
        ))}
      </LineChart>
    </ResponsiveContainer>
  );
}
