"use client";

import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { RouterOutputs } from "@/trpc/react";
import { ChartLegend, useHiddenLines, useWidth, type LegendEntry } from "../components/chart-legend";
import { CANDIDATE_COLORS, integerTicks, PLOT_INSET_PX, sameAsEarlier, utilityScale } from "../components/chart-style";

type ComparedRun = RouterOutputs["runs"]["compare"][number];

/*
 * Each run's line has a dash pattern, width and marker of its own, and each later run is drawn narrower and
 * smaller on top of the earlier ones, so runs whose curves or test points coincide still show each other
 * (nested, like rings); a note also says which curve is the same as which.
 */
const RUN_STYLES = [
  { dash: undefined, width: 4, marker: "circle", size: 4.5, testSize: 8 },
  { dash: "8 4", width: 2.5, marker: "square", size: 3.5, testSize: 6 },
  { dash: "2 3", width: 2, marker: "triangle", size: 2.5, testSize: 4.5 },
  { dash: "10 3 2 3", width: 1.5, marker: "diamond", size: 2, testSize: 3 },
] as const;

function Marker({ cx, cy, color, shape, size, testId }: { cx?: number; cy?: number; color: string; shape: (typeof RUN_STYLES)[number]["marker"]; size: number; testId?: string }) {
  if (cx == null || cy == null) return null;
  const common = { fill: color, stroke: "white", strokeWidth: 1, "data-testid": testId };
  if (shape === "circle") return <circle cx={cx} cy={cy} r={size} {...common} />;
  if (shape === "square") return <rect x={cx - size} y={cy - size} width={2 * size} height={2 * size} {...common} />;
  if (shape === "triangle") return <polygon points={`${cx},${cy - size - 1} ${cx - size - 1},${cy + size} ${cx + size + 1},${cy + size}`} {...common} />;
  return <polygon points={`${cx},${cy - size - 1} ${cx + size + 1},${cy} ${cx},${cy + size + 1} ${cx - size - 1},${cy}`} {...common} />;
}

/**
 * Best-so-far utility of each run over its candidate evaluations (x: evaluations spent, not iterations), so
 * searches of other population sizes or optimizers compare at equal budget: dev as steps, test as markers where
 * it was measured (the starting best and the ending global best).
 */
export function BestSoFarChart({ runs }: { runs: ComparedRun[] }) {
  const devKeys = runs.map((_, position) => `dev${position}`);
  const testKeys = runs.map((_, position) => `test${position}`);
  const entries: LegendEntry[] = runs.flatMap((run, position) => {
    const color = CANDIDATE_COLORS[position]!;
    const dev: LegendEntry = { key: devKeys[position]!, label: `${run.name} (dev)`, color, dash: RUN_STYLES[position]!.dash };
    return run.curve.test.length ? [dev, { key: testKeys[position]!, label: `${run.name} (test)`, color, marker: true }] : [dev];
  });
  const { hidden, toggle } = useHiddenLines(entries.map((entry) => entry.key));
  const accuracy = runs.every((run) => run.utilityAxis.accuracy);
  const { domain, ticks } = utilityScale(
    runs.flatMap((run) => [...run.curve.dev.map((point) => point.best), ...run.curve.test.map((point) => point.utility)]),
    accuracy,
  );
  const maxEvaluations = Math.max(1, ...runs.flatMap((run) => run.curve.dev.map((point) => point.evaluations)));
  const { ref, width } = useWidth<HTMLDivElement>();
  // Room for labels of up to four digits.
  const xTicks = integerTicks(maxEvaluations, Math.max(0, width - PLOT_INSET_PX), 48);
  const same = sameAsEarlier(runs.map((run) => run.curve.dev.map((point) => [point.evaluations, point.best] as const)));
  const metrics = [...new Set(runs.map((run) => run.utilityAxis.metric))].join(" / ");
  const notes = same.flatMap((earlier, position) =>
    earlier === null
      ? []
      : [
          <span key={position} data-testid="same-as">
            {runs[position]!.name}&apos;s dev curve is the same as {runs[earlier]!.name}&apos;s
          </span>,
        ],
  );
  return (
    <div ref={ref}>
      <div style={{ width: "100%", height: 320 }} data-testid="compare-chart" data-x="evaluations" data-y-domain={domain.join(",")} data-max-evaluations={maxEvaluations}>
        <ResponsiveContainer width="100%" height="100%">
          <LineChart margin={{ top: 8, right: 16, bottom: 16, left: 0 }}>
            <CartesianGrid stroke="#e2e8f0" strokeDasharray="3 3" />
            <XAxis dataKey="evaluations" type="number" domain={[0, maxEvaluations]} ticks={xTicks} interval={0} allowDecimals={false} tick={{ fontSize: 12 }} label={{ value: "candidate evaluations", position: "insideBottomRight", offset: -10, fontSize: 12 }} />
            <YAxis tick={{ fontSize: 12 }} width={48} domain={domain} ticks={ticks} interval={0} tickFormatter={(value: number) => String(Number(value.toFixed(3)))} label={{ value: metrics, angle: -90, position: "insideLeft", fontSize: 12 }} />
            <Tooltip formatter={(value) => (typeof value === "number" ? value.toFixed(4) : String(value))} labelFormatter={(label) => `after ${label} evaluations`} wrapperStyle={{ fontSize: 12 }} />
            {runs.map((run, position) => {
              const style = RUN_STYLES[position]!;
              const color = CANDIDATE_COLORS[position]!;
              return (
                <Line
                  key={devKeys[position]}
                  data={run.curve.dev}
                  dataKey="best"
                  name={`${run.name} (dev)`}
                  type="stepAfter"
                  stroke={color}
                  strokeWidth={style.width}
                  strokeDasharray={style.dash}
                  dot={(props: { cx?: number; cy?: number; index?: number }) => <Marker key={props.index} cx={props.cx} cy={props.cy} color={color} shape={style.marker} size={style.size} />}
                  isAnimationActive={false}
                  hide={hidden.has(devKeys[position]!)}
                  className="compare-dev-line"
                />
              );
            })}
            {runs.map((run, position) =>
              run.curve.test.length === 0 ? null : (
                <Line
                  key={testKeys[position]}
                  data={run.curve.test}
                  dataKey="utility"
                  name={`${run.name} (test)`}
                  stroke="none"
                  legendType="none"
                  dot={(props: { cx?: number; cy?: number; index?: number }) => <Marker key={props.index} cx={props.cx} cy={props.cy} color={CANDIDATE_COLORS[position]!} shape="diamond" size={RUN_STYLES[position]!.testSize} testId="test-point" />}
                  isAnimationActive={false}
                  hide={hidden.has(testKeys[position]!)}
                />
              ),
            )}
          </LineChart>
        </ResponsiveContainer>
      </div>
      <ChartLegend entries={entries} hidden={hidden} onToggle={toggle} notes={notes} />
    </div>
  );
}
