"use client";

import { useQuery } from "@tanstack/react-query";
import { memo, useDeferredValue, useState } from "react";
import { CartesianGrid, ResponsiveContainer, Scatter, ScatterChart, Tooltip, XAxis, YAxis } from "recharts";
import { paretoFront } from "@/shared/pareto";
import { useTRPC, type RouterOutputs } from "@/trpc/react";
import { BEST_COLOR, CANDIDATE_COLORS } from "../../components/chart-style";
import { useRefetchOnRecorded } from "./use-refetch-on-recorded";

type ParetoData = RouterOutputs["runs"]["paretoData"];
type PlotPoint = { x: number; y: number; label: string; utility: number; front: boolean; best: boolean };

const FRONT_COLOR = CANDIDATE_COLORS[0]!;

/** One evaluated candidate: opaque on the front, dimmed when another beats it on both axes, a star for the chosen best. */
function PointShape(props: { cx?: number; cy?: number; payload?: PlotPoint }) {
  const { cx, cy, payload } = props;
  if (cx == null || cy == null || !payload) return <g />;
  if (payload.best) {
    return (
      <text x={cx} y={cy + 5} textAnchor="middle" fontSize={16} fill={BEST_COLOR} stroke="white" strokeWidth={0.5} data-testid="pareto-best" className="pareto-point" data-front={String(payload.front)}>
        ★
      </text>
    );
  }
  return <circle cx={cx} cy={cy} r={payload.front ? 4 : 3} fill={FRONT_COLOR} fillOpacity={payload.front ? 0.95 : 0.18} stroke={payload.front ? "#1e3a5f" : "none"} className="pareto-point" data-front={String(payload.front)} />;
}

function plotPoints(data: ParetoData, xKey: string, yKey: string): PlotPoint[] {
  const x = data.axes.find((axis) => axis.key === xKey)!;
  const y = data.axes.find((axis) => axis.key === yKey)!;
  const values = data.points.map((point) => ({ x: point.values[xKey] ?? Number.NaN, y: point.values[yKey] ?? Number.NaN }));
  const onFront = paretoFront(values, { x: x.direction, y: y.direction });
  return data.points
    .map((point, index) => ({ ...values[index]!, label: point.label, utility: point.utility, front: onFront[index]!, best: data.best?.iteration === point.iteration && data.best.candidate === point.candidate }))
    .filter((point) => Number.isFinite(point.x) && Number.isFinite(point.y))
    // The best is drawn last, over any point at the same place.
    .sort((a, b) => Number(a.best) - Number(b.best));
}

function AxisSelect({ label, value, axes, onChange, testId }: { label: string; value: string; axes: ParetoData["axes"]; onChange: (key: string) => void; testId: string }) {
  return (
    <label className="text-xs text-slate-600">
      {label}{" "}
      <select className="rounded border border-slate-300 px-1 py-0.5" value={value} onChange={(event) => onChange(event.target.value)} data-testid={testId}>
        {axes.map((axis) => (
          <option key={axis.key} value={axis.key}>
            {axis.label}
          </option>
        ))}
      </select>
    </label>
  );
}

/**
 * Every evaluated candidate of a length-aware or multitask run on two of its objectives (accuracy × mean generated
 * tokens, or two tasks' utilities), its Pareto front opaque and the rest dimmed, the search's chosen best a star.
 * Nothing for eval types of one objective.
 */
export function ParetoFront({ id, recorded }: { id: string; recorded: number }) {
  const trpc = useTRPC();
  const query = useQuery(trpc.runs.paretoData.queryOptions({ id }));
  useRefetchOnRecorded(trpc.runs.paretoData.queryKey({ id }), recorded);
  // Deferred: a re-read's new front renders after the utility chart's new point is painted, never before it.
  return <ParetoView data={useDeferredValue(query.data)} />;
}

/** Rendered again only when a re-read brings new data (or the axes change), not with every event of the page. */
const ParetoView = memo(function ParetoView({ data }: { data: ParetoData | undefined }) {
  const [chosen, setChosen] = useState<{ x: string; y: string } | null>(null);
  if (!data || data.axes.length < 2) return null;
  const xKey = chosen?.x ?? data.axes[0]!.key;
  const yKey = chosen?.y ?? data.axes[1]!.key;
  const points = plotPoints(data, xKey, yKey);
  const front = points.filter((point) => point.front).length;
  const axisOf = (key: string) => data.axes.find((candidate) => candidate.key === key)!;
  const axisLabel = (key: string) => `${axisOf(key).label} (${axisOf(key).direction === "max" ? "higher" : "lower"} is better)`;
  // An accuracy spans 0–1 whatever the candidates reached, so fronts of runs and reloads read the same.
  const domainOf = (key: string): [number | "auto", number | "auto"] => (axisOf(key).accuracy ? [0, 1] : ["auto", "auto"]);
  return (
    <div className="rounded-lg border border-slate-200 bg-white p-4" data-testid="pareto-front" data-points={points.length} data-front={front} data-x-domain={domainOf(xKey).join(",")}>
      <div className="mb-2 flex flex-wrap items-baseline justify-between gap-3">
        <h2 className="text-sm font-semibold uppercase tracking-wide text-slate-500">Pareto front of every evaluated candidate</h2>
        <span className="text-xs text-slate-500">
          {points.length} evaluations · {front} on the front · <span className="text-[#15803d]">★</span> the chosen best
        </span>
      </div>
      {data.axes.length > 2 && (
        <div className="mb-2 flex gap-3">
          <AxisSelect label="x" value={xKey} axes={data.axes} onChange={(key) => setChosen({ x: key, y: yKey })} testId="pareto-x" />
          <AxisSelect label="y" value={yKey} axes={data.axes} onChange={(key) => setChosen({ x: xKey, y: key })} testId="pareto-y" />
        </div>
      )}
      <ResponsiveContainer width="100%" height={300}>
        <ScatterChart margin={{ top: 10, right: 20, bottom: 30, left: 10 }}>
          <CartesianGrid stroke="#e2e8f0" />
          <XAxis type="number" dataKey="x" name={axisLabel(xKey)} domain={domainOf(xKey)} label={{ value: axisLabel(xKey), position: "insideBottom", offset: -15, fontSize: 12 }} tick={{ fontSize: 11 }} />
          <YAxis type="number" dataKey="y" name={axisLabel(yKey)} domain={domainOf(yKey)} label={{ value: axisLabel(yKey), angle: -90, position: "insideLeft", fontSize: 12 }} tick={{ fontSize: 11 }} width={70} />
          <Tooltip
            cursor={{ strokeDasharray: "3 3" }}
            content={({ payload }) => {
              const point = payload?.[0]?.payload as PlotPoint | undefined;
              if (!point) return null;
              return (
                <div className="rounded border border-slate-200 bg-white px-2 py-1 text-xs shadow">
                  <div className="font-medium">{point.label}</div>
                  <div>
                    {xKey} {point.x.toFixed(3)} · {yKey} {point.y.toFixed(3)} · utility {point.utility.toFixed(3)}
                  </div>
                  <div className="text-slate-500">{point.best ? "the chosen best" : point.front ? "on the front" : "dominated"}</div>
                </div>
              );
            }}
          />
          <Scatter data={points} shape={PointShape} isAnimationActive={false} />
        </ScatterChart>
      </ResponsiveContainer>
    </div>
  );
});
