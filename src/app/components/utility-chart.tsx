"use client";

import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";

export const CANDIDATE_COLORS = ["#0ea5e9", "#a855f7", "#f59e0b", "#14b8a6", "#ec4899", "#84cc16", "#6366f1", "#f97316", "#06b6d4", "#8b5cf6", "#eab308", "#10b981"];

export interface ChartIteration {
  index: number;
  best: number;
  worst: number;
  scores: number[];
}

/** A dot that tests and the live benchmark can find: one per iteration on the global-best line. */
function BestDot(props: { cx?: number; cy?: number; payload?: { index: number } }) {
  if (props.cx == null || props.cy == null || !props.payload) return null;
  return <circle cx={props.cx} cy={props.cy} r={3} fill="#15803d" stroke="white" strokeWidth={1} data-iteration={props.payload.index} className="best-dot" />;
}

/** A y range snapped to 0.05 that holds every score, so small gains stay visible and a flat run is not blown up. */
export function utilityDomain(iterations: ChartIteration[]): [number, number] {
  const values = iterations.flatMap((iteration) => [iteration.best, iteration.worst, ...iteration.scores]).filter(Number.isFinite);
  if (values.length === 0) return [0, 1];
  let low = Math.floor(Math.min(...values) * 20) / 20;
  let high = Math.ceil(Math.max(...values) * 20) / 20;
  if (high - low < 0.1) {
    high = Math.max(high, low + 0.1);
    if (low >= 0 && Math.min(...values) >= 0) low = Math.max(0, Math.min(low, high - 0.1));
  }
  return [low, high];
}

/** Every candidate's current dev utility per iteration, with the global best and worst. */
export function UtilityChart({ iterations, metric, height = 360 }: { iterations: ChartIteration[]; metric: string; height?: number }) {
  const candidates = iterations.reduce((most, iteration) => Math.max(most, iteration.scores.length), 0);
  const data = iterations.map((iteration) => {
    const row: Record<string, number> = { index: iteration.index, best: iteration.best, worst: iteration.worst };
    iteration.scores.forEach((score, candidate) => (row[`c${candidate}`] = score));
    return row;
  });
  const last = iterations.at(-1)?.index ?? -1;
  const domain = utilityDomain(iterations);
  return (
    <div data-testid="utility-chart" data-points={iterations.length} data-last-iteration={last} style={{ width: "100%", height }}>
      <ResponsiveContainer width="100%" height="100%">
        <LineChart data={data} margin={{ top: 8, right: 16, bottom: 8, left: 0 }}>
          <CartesianGrid stroke="#e2e8f0" strokeDasharray="3 3" />
          <XAxis dataKey="index" type="number" domain={[0, Math.max(1, last)]} allowDecimals={false} tick={{ fontSize: 12 }} label={{ value: "iteration", position: "insideBottomRight", offset: -4, fontSize: 12 }} />
          <YAxis tick={{ fontSize: 12 }} width={48} domain={domain} tickCount={6} tickFormatter={(value: number) => String(Number(value.toFixed(3)))} label={{ value: metric, angle: -90, position: "insideLeft", fontSize: 12 }} />
          <Tooltip formatter={(value) => (typeof value === "number" ? value.toFixed(4) : String(value))} labelFormatter={(label) => `iteration ${label}`} />
          <Legend wrapperStyle={{ fontSize: 12 }} />
          {Array.from({ length: candidates }, (_, candidate) => (
            <Line
              key={candidate}
              dataKey={`c${candidate}`}
              name={`candidate ${candidate}`}
              stroke={CANDIDATE_COLORS[candidate % CANDIDATE_COLORS.length]}
              strokeOpacity={0.55}
              strokeWidth={1}
              dot={false}
              isAnimationActive={false}
              connectNulls
            />
          ))}
          <Line dataKey="worst" name="global worst" stroke="#dc2626" strokeWidth={2} strokeDasharray="6 3" dot={false} isAnimationActive={false} />
          <Line dataKey="best" name="global best" stroke="#15803d" strokeWidth={3} dot={<BestDot />} isAnimationActive={false} />
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
}
