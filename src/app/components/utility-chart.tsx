"use client";

import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { ChartLegend, useHiddenLines, useWidth, type LegendEntry } from "./chart-legend";
import { candidateLabel } from "@/shared/candidate-label";
import { BEST_COLOR, candidateStroke, integerTicks, PLOT_INSET_PX, utilityScale, WORST_COLOR } from "./chart-style";

export interface ChartIteration {
  index: number;
  best: number;
  worst: number;
  scores: number[];
  newBest: boolean;
}

/** What the y axis shows: the utility's metric, fixed to 0–1 when it is an accuracy. */
export interface UtilityAxis {
  metric: string;
  accuracy: boolean;
}

/**
 * One dot per iteration on the global-best line, which tests and the live benchmark find; a ★ above it where
 * the iteration found a new global best.
 */
function BestDot(props: { cx?: number; cy?: number; payload?: { index: number; newBest?: number } }) {
  if (props.cx == null || props.cy == null || !props.payload) return null;
  return (
    <g>
      <circle cx={props.cx} cy={props.cy} r={3} fill={BEST_COLOR} stroke="white" strokeWidth={1} data-iteration={props.payload.index} className="best-dot" />
      {props.payload.newBest === 1 && (
        <text x={props.cx} y={props.cy - 6} textAnchor="middle" fontSize={12} fill={BEST_COLOR} className="new-best-star">
          ★
        </text>
      )}
    </g>
  );
}

/** A candidate's point at an iteration, as a click on the chart names it. */
export interface ChartPoint {
  candidate: number;
  iteration: number;
}

/** A clickable point of a candidate's line (drawn only when the chart has an onPointClick). */
function CandidateDot(props: { cx?: number; cy?: number; payload?: { index: number }; candidate: number; color: string; onPointClick: (point: ChartPoint) => void }) {
  if (props.cx == null || props.cy == null || !props.payload) return null;
  const iteration = props.payload.index;
  return (
    <circle cx={props.cx} cy={props.cy} r={3} fill={props.color} fillOpacity={0.35} className="cursor-pointer" data-testid="candidate-point" data-candidate={props.candidate} data-iteration={iteration} onClick={() => props.onPointClick({ candidate: props.candidate, iteration })} />
  );
}

/** Every candidate's current dev utility per iteration, with the global best and worst. */
export function UtilityChart({ iterations, axis, candidateNames = [], height = 360, onPointClick }: { iterations: ChartIteration[]; axis: UtilityAxis; candidateNames?: readonly string[]; height?: number; onPointClick?: (point: ChartPoint) => void }) {
  const candidates = iterations.reduce((most, iteration) => Math.max(most, iteration.scores.length), 0);
  const data = iterations.map((iteration) => {
    const row: Record<string, number> = { index: iteration.index, best: iteration.best, worst: iteration.worst, newBest: Number(iteration.newBest && iteration.index > 0) };
    iteration.scores.forEach((score, candidate) => (row[`c${candidate}`] = score));
    return row;
  });
  const last = iterations.at(-1)?.index ?? -1;
  const { domain, ticks } = utilityScale(
    iterations.flatMap((iteration) => [iteration.best, iteration.worst, ...iteration.scores]),
    axis.accuracy,
  );
  const entries: LegendEntry[] = [
    { key: "best", label: "global best", color: BEST_COLOR },
    { key: "worst", label: "global worst", color: WORST_COLOR, dash: "6 3" },
    ...Array.from({ length: candidates }, (_, candidate) => ({ key: `c${candidate}`, label: candidateLabel(candidate, candidateNames), ...candidateStroke(candidate) })),
  ];
  const { hidden, toggle } = useHiddenLines(entries.map((entry) => entry.key));
  const { ref, width } = useWidth<HTMLDivElement>();
  const xTicks = integerTicks(last, Math.max(0, width - PLOT_INSET_PX));
  return (
    <div ref={ref}>
      <div data-testid="utility-chart" data-points={iterations.length} data-last-iteration={last} data-y-domain={domain.join(",")} style={{ width: "100%", height }}>
        <ResponsiveContainer width="100%" height="100%">
          <LineChart data={data} margin={{ top: 16, right: 16, bottom: 8, left: 0 }}>
            <CartesianGrid stroke="#e2e8f0" strokeDasharray="3 3" />
            <XAxis dataKey="index" type="number" domain={[0, Math.max(1, last)]} ticks={xTicks} interval={0} allowDecimals={false} tick={{ fontSize: 12 }} label={{ value: "iteration", position: "insideBottomRight", offset: -4, fontSize: 12 }} />
            <YAxis tick={{ fontSize: 12 }} width={48} domain={domain} ticks={ticks} interval={0} tickFormatter={(value: number) => String(Number(value.toFixed(3)))} label={{ value: axis.metric, angle: -90, position: "insideLeft", fontSize: 12 }} />
            <Tooltip
              formatter={(value) => (typeof value === "number" ? value.toFixed(4) : String(value))}
              labelFormatter={(label) => `iteration ${label}`}
              itemSorter={(item) => -(typeof item.value === "number" ? item.value : 0)}
              wrapperStyle={{ fontSize: 12 }}
            />
            {/* Drawn first, so that candidates at the worst (often 0) lie on top of its dashes, not under them. */}
            <Line dataKey="worst" name="global worst" stroke={WORST_COLOR} strokeWidth={2} strokeDasharray="6 3" dot={false} isAnimationActive={false} hide={hidden.has("worst")} />
            <Line dataKey="best" name="global best" stroke={BEST_COLOR} strokeWidth={3} dot={<BestDot />} isAnimationActive={false} hide={hidden.has("best")} />
            {Array.from({ length: candidates }, (_, candidate) => {
              const stroke = candidateStroke(candidate);
              return (
                <Line
                  key={candidate}
                  dataKey={`c${candidate}`}
                  name={candidateLabel(candidate, candidateNames)}
                  stroke={stroke.color}
                  strokeDasharray={stroke.dash}
                  strokeWidth={1.5}
                  dot={onPointClick ? <CandidateDot candidate={candidate} color={stroke.color} onPointClick={onPointClick} /> : false}
                  isAnimationActive={false}
                  connectNulls
                  hide={hidden.has(`c${candidate}`)}
                />
              );
            })}
          </LineChart>
        </ResponsiveContainer>
      </div>
      <ChartLegend entries={entries} hidden={hidden} onToggle={toggle} notes={[<span key="star" data-testid="legend-new-best"><span style={{ color: BEST_COLOR }}>★</span> new global best</span>]} />
    </div>
  );
}
