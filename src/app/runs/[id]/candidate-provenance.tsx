"use client";

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { candidateLabel } from "@/shared/candidate-label";
import { useTRPC, type RouterOutputs } from "@/trpc/react";
import type { ChartPoint } from "../../components/utility-chart";
import { candidateStroke } from "../../components/chart-style";

/*
 * What the search found and where it came from: the best candidate's recipe (bars, or a heatmap of expert × layer),
 * a candidate's weights over iterations, weights mode's per-module distances, the lineage of a picked candidate
 * (with its parents one click away), and parallel coordinates of the recipes against utility with each
 * coefficient's importance. Re-read from runs' provenance on every streamed iteration.
 */

type Provenance = RouterOutputs["provenance"]["ofRun"];
type Row = Provenance["rows"][number];
type Origin = Row["origin"];

const rowKey = ({ candidate, iteration }: ChartPoint) => `${iteration}:${candidate}`;
const number = (value: number) => String(Number(value.toPrecision(3)));

/** One name per recipe coefficient: the expert, and its layer when the weights are per layer (layer-major). */
function coefficientNames(space: NonNullable<Provenance["space"]>): string[] {
  if (space.layers.length === 0) return space.names;
  return space.layers.flatMap((layer) => space.names.map((name) => `${name} · L${layer}`));
}

/** Blue for negative weights, white at 0, orange up to the largest magnitude. */
function divergingColor(value: number, magnitude: number) {
  const t = magnitude === 0 ? 0 : Math.max(-1, Math.min(1, value / magnitude));
  const [r, g, b] = t >= 0 ? [255, Math.round(255 - 120 * t), Math.round(255 - 220 * t)] : [Math.round(255 + 200 * t), Math.round(255 + 100 * t), 255];
  return `rgb(${r},${g},${b})`;
}

function Panel({ title, testId, children, note }: { title: string; testId: string; children: React.ReactNode; note?: React.ReactNode }) {
  return (
    <div className="min-w-0 rounded-lg border border-slate-200 bg-white p-4" data-testid={testId}>
      <h3 className="text-sm font-semibold text-slate-700">{title}</h3>
      {note && <p className="mt-0.5 text-xs text-slate-500">{note}</p>}
      <div className="mt-3">{children}</div>
    </div>
  );
}

function BestRecipe({ space, row }: { space: NonNullable<Provenance["space"]>; row: Row }) {
  const magnitude = Math.max(1e-9, ...row.recipe.map(Math.abs));
  const title = `Best candidate's recipe: candidate ${row.candidate} at iteration ${row.iteration}`;
  if (space.layers.length === 0) {
    return (
      <Panel title={title} testId="best-recipe" note="merge weight per expert">
        <div className="space-y-1" data-testid="recipe-bars">
          {space.names.map((name, index) => {
            const value = row.recipe[index]!;
            return (
              <div key={name} className="flex items-center gap-2 text-xs" data-testid="recipe-bar" data-expert={name} data-value={value}>
                <span className="w-28 truncate text-slate-600">{name}</span>
                <div className="relative h-3 flex-1 rounded bg-slate-100">
                  <div className={`absolute top-0 h-3 rounded ${value >= 0 ? "bg-orange-400" : "bg-sky-500"}`} style={{ left: value >= 0 ? "50%" : `${50 - (50 * -value) / magnitude}%`, width: `${(50 * Math.abs(value)) / magnitude}%` }} />
                  <div className="absolute left-1/2 top-0 h-3 w-px bg-slate-400" />
                </div>
                <span className="w-14 text-right tabular-nums">{number(value)}</span>
              </div>
            );
          })}
        </div>
      </Panel>
    );
  }
  return (
    <Panel title={title} testId="best-recipe" note="merge weight per expert (rows) and decoder layer (columns)">
      <table className="text-xs" data-testid="recipe-heatmap">
        <thead>
          <tr>
            <th />
            {space.layers.map((layer) => (
              <th key={layer} className="px-1 font-normal text-slate-500">
                layer {layer}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {space.names.map((name, expert) => (
            <tr key={name}>
              <td className="pr-2 text-slate-600">{name}</td>
              {space.layers.map((layer, group) => {
                const value = row.recipe[group * space.names.length + expert]!;
                return (
                  <td key={layer} className="h-7 w-16 border border-white text-center tabular-nums" style={{ background: divergingColor(value, magnitude) }} data-testid="heatmap-cell" data-expert={name} data-layer={layer} data-value={value} title={`${name}, layer ${layer}: ${value}`}>
                    {number(value)}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </Panel>
  );
}

/** One candidate's weights after each iteration (with per-layer weights, each expert's mean over the layers). */
function WeightsOverIterations({ space, rows, candidate, candidates, onCandidate, candidateNames }: { space: NonNullable<Provenance["space"]>; rows: Row[]; candidate: number; candidates: number; onCandidate: (candidate: number) => void; candidateNames: readonly string[] }) {
  const experts = space.names.length;
  const groups = Math.max(1, space.layers.length);
  const data = rows
    .filter((row) => row.candidate === candidate)
    .map((row) => {
      const point: Record<string, number> = { iteration: row.iteration };
      space.names.forEach((name, expert) => {
        let sum = 0;
        for (let group = 0; group < groups; group += 1) sum += row.recipe[group * experts + expert]!;
        point[name] = sum / groups;
      });
      return point;
    });
  return (
    <Panel title="Weights over iterations" testId="weights-over-iterations" note={space.layers.length ? "each expert's weight, the mean over the layers, after each iteration's selection" : "each expert's weight after each iteration's selection"}>
      <label className="text-xs text-slate-600">
        candidate{" "}
        <select className="rounded border border-slate-300 px-1 py-0.5 text-xs" value={candidate} onChange={(event) => onCandidate(Number(event.target.value))} data-testid="weights-candidate">
          {Array.from({ length: candidates }, (_, index) => (
            <option key={index} value={index}>
              {candidateLabel(index, candidateNames)}
            </option>
          ))}
        </select>
      </label>
      <div style={{ width: "100%", height: 260 }}>
        <ResponsiveContainer width="100%" height="100%">
          <LineChart data={data} margin={{ top: 8, right: 16, bottom: 0, left: 0 }}>
            <CartesianGrid stroke="#e2e8f0" strokeDasharray="3 3" />
            <XAxis dataKey="iteration" type="number" domain={["dataMin", "dataMax"]} allowDecimals={false} tick={{ fontSize: 11 }} />
            <YAxis tick={{ fontSize: 11 }} width={44} />
            <Tooltip wrapperStyle={{ fontSize: 12 }} formatter={(value) => (typeof value === "number" ? number(value) : String(value))} labelFormatter={(label) => `iteration ${label}`} />
            <Legend wrapperStyle={{ fontSize: 11 }} />
            {space.names.map((name, expert) => (
              <Line key={name} dataKey={name} stroke={candidateStroke(expert).color} strokeWidth={1.5} dot={false} isAnimationActive={false} />
            ))}
          </LineChart>
        </ResponsiveContainer>
      </div>
    </Panel>
  );
}

/** Weights mode: each candidate's distance from its start, per LoRA module, at one iteration. */
function ModuleDistances({ space, rows, iteration, candidateNames }: { space: NonNullable<Provenance["space"]>; rows: Row[]; iteration: number; candidateNames: readonly string[] }) {
  const atIteration = rows.filter((row) => row.iteration === iteration && row.moduleDistances.length > 0);
  const largest = Math.max(1e-9, ...atIteration.flatMap((row) => row.moduleDistances));
  return (
    <Panel title={`Distance from the starting adapter per module, after iteration ${iteration}`} testId="module-distances" note="relative Frobenius norm ‖x − x₀‖ / ‖x₀‖ over each module's LoRA A and B">
      <div className="overflow-x-auto">
        <table className="text-[10px]">
          <thead>
            <tr>
              <th />
              {space.names.map((name) => (
                <th key={name} className="px-0.5 font-normal text-slate-500 [writing-mode:vertical-rl]">
                  {name}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {atIteration.map((row) => (
              <tr key={row.candidate}>
                <td className="whitespace-nowrap pr-2 text-slate-600">{candidateLabel(row.candidate, candidateNames)}</td>
                {row.moduleDistances.map((distance, index) => (
                  <td key={index} className="h-4 w-4 border border-white" style={{ background: divergingColor(distance, largest) }} title={`${space.names[index]}: ${distance}`} data-testid="distance-cell" />
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Panel>
  );
}

function describeOrigin(origin: Origin, candidateNames: readonly string[]): string {
  switch (origin.kind) {
    case "starting":
      return `a starting candidate: ${candidateNames[origin.index] ?? `vector ${origin.index}`}`;
    case "crossover":
      return `a crossover child w·a + (1 − w)·b, w = ${number(origin.w)}`;
    case "bwr":
      return `a BWR move: current + step·(r1·(best − T·random) − r2·(worst − random)), T = ${origin.T}, r1 = ${number(origin.r1)}, r2 = ${number(origin.r2)}, step = ${number(origin.step)}`;
    case "reset_scaled":
      return `${origin.restarted ? "restarted (a stray) by" : ""} BWR_model's reset random·r3, r3 = ${number(origin.r3)}`.trim();
    case "reset_bounds":
      return `${origin.restarted ? "restarted (a stray): " : ""}reset uniformly within the population's bounds`;
    case "cmaes_sample":
      return `a CMA-ES sample of this iteration's generation, σ = ${number(origin.sigma)}`;
    case "random_sample":
      return "a random-search draw within --recipe_bounds";
    case "unchanged":
      return "not moved (a CMA-ES sample left unevaluated keeps its last candidate)";
  }
}

function parentsOf(origin: Origin): Array<{ role: string; ref: ChartPoint | null }> {
  switch (origin.kind) {
    case "crossover":
      return [
        { role: "a", ref: origin.a },
        { role: "b", ref: origin.b },
      ];
    case "bwr":
      return [
        { role: "current", ref: origin.current },
        { role: "best", ref: origin.best },
        { role: "worst", ref: origin.worst },
        { role: "random peer", ref: origin.random },
      ];
    case "reset_scaled":
      return [{ role: "random peer", ref: origin.random }];
    case "unchanged":
      return [{ role: "current", ref: origin.current }];
    default:
      return [];
  }
}

const selectionText = { kept: "kept by selection", rejected: "rejected by greedy selection: the candidate stayed as it was", not_evaluated: "not evaluated in this iteration" } as const;

function Lineage({ row, byKey, onPick, candidateNames, recipeNames }: { row: Row; byKey: Map<string, Row>; onPick: (point: ChartPoint) => void; candidateNames: readonly string[]; recipeNames: string[] | null }) {
  const parents = parentsOf(row.origin);
  return (
    <Panel title={`Lineage: ${candidateLabel(row.candidate, candidateNames)} at iteration ${row.iteration}`} testId="lineage">
      <div className="space-y-2 text-sm" data-candidate={row.candidate} data-iteration={row.iteration} data-kind={row.origin.kind} data-testid="lineage-current">
        <p>
          Produced as <span className="font-medium">{describeOrigin(row.origin, candidateNames)}</span>; {selectionText[row.selection]}.
          {row.utility !== null && <> Dev utility of what was evaluated: {number(row.utility)}.</>}
        </p>
        {parents.length > 0 && (
          <div className="flex flex-wrap gap-2">
            {parents.map(({ role, ref }) =>
              ref ? (
                <button key={role} type="button" className="rounded border border-sky-300 px-2 py-0.5 text-xs text-sky-800 hover:bg-sky-50 disabled:opacity-50" onClick={() => onPick(ref)} disabled={!byKey.has(rowKey(ref))} data-testid="lineage-parent" data-role={role} data-candidate={ref.candidate} data-iteration={ref.iteration}>
                  {role}: {candidateLabel(ref.candidate, candidateNames)} at iteration {ref.iteration}
                </button>
              ) : (
                <span key={role} className="text-xs text-slate-500">
                  {role}: not recorded
                </span>
              ),
            )}
          </div>
        )}
        {recipeNames && row.evaluatedRecipe.length > 0 && (
          <p className="text-xs text-slate-500">
            {row.selection === "rejected" ? "evaluated recipe: " : "recipe: "}
            {row.evaluatedRecipe.map((value, index) => `${recipeNames[index]} ${number(value)}`).join(", ")}
          </p>
        )}
      </div>
    </Panel>
  );
}

/** One polyline per evaluated recipe across the coefficient axes and a last utility axis, coloured by utility. */
function ParallelCoordinates({ names, rows, picked }: { names: string[]; rows: Row[]; picked: ChartPoint | null }) {
  const evaluated = rows.filter((row) => row.utility !== null && row.evaluatedRecipe.length === names.length);
  const axes = [...names, "utility"];
  const values = (row: Row) => [...row.evaluatedRecipe, row.utility!];
  const ranges = axes.map((_, axis) => {
    const column = evaluated.map((row) => values(row)[axis]!);
    const [low, high] = [Math.min(...column), Math.max(...column)];
    return high > low ? [low, high] : [low - 0.5, high + 0.5];
  });
  const [width, height, top, bottom, left] = [Math.max(480, axes.length * 56), 240, 12, 56, 56];
  const x = (axis: number) => left + (axis * (width - 2 * left)) / Math.max(1, axes.length - 1);
  const y = (axis: number, value: number) => top + (1 - (value - ranges[axis]![0]!) / (ranges[axis]![1]! - ranges[axis]![0]!)) * (height - top - bottom);
  const [uLow, uHigh] = ranges.at(-1)!;
  const shade = (utility: number) => `hsl(${Math.round(220 - 200 * ((utility - uLow!) / (uHigh! - uLow!)))}, 70%, 50%)`;
  return (
    <Panel title="Parallel coordinates: recipe coefficients against utility" testId="parallel-coordinates" note={`${evaluated.length} evaluated recipes; colour from low (blue) to high (red) dev utility`}>
      <div className="overflow-x-auto">
        <svg width={width} height={height} role="img" aria-label="parallel coordinates">
          {evaluated.map((row) => {
            const isPicked = picked !== null && rowKey(picked) === rowKey(row);
            return <polyline key={rowKey(row)} points={values(row).map((value, axis) => `${x(axis)},${y(axis, value)}`).join(" ")} fill="none" stroke={isPicked ? "#0f172a" : shade(row.utility!)} strokeOpacity={isPicked ? 1 : 0.45} strokeWidth={isPicked ? 2.5 : 1} data-testid="pc-line" />;
          })}
          {axes.map((name, axis) => (
            <g key={name} data-testid="pc-axis">
              <line x1={x(axis)} x2={x(axis)} y1={top} y2={height - bottom} stroke="#334155" />
              <text x={x(axis)} y={height - bottom + 10} fontSize={10} textAnchor="end" transform={`rotate(-35 ${x(axis)} ${height - bottom + 10})`} fill="#334155">
                {name}
              </text>
              <text x={x(axis) + 3} y={top + 4} fontSize={9} fill="#64748b">
                {number(ranges[axis]![1]!)}
              </text>
              <text x={x(axis) + 3} y={height - bottom} fontSize={9} fill="#64748b">
                {number(ranges[axis]![0]!)}
              </text>
            </g>
          ))}
        </svg>
      </div>
    </Panel>
  );
}

function Importance({ names, importance }: { names: string[]; importance: Provenance["importance"] }) {
  const order = importance.map((entry, index) => ({ ...entry, name: names[index]! })).sort((a, b) => b.importance - a.importance);
  return (
    <Panel title="Importance of each coefficient" testId="importance" note="squared Spearman rank correlation with dev utility over every evaluated recipe, normalised to sum to 1 (ρ's sign: whether more weight helped; where lower is better, a fall counts as help)">
      <div className="space-y-1">
        {order.map(({ name, importance: share, rho }) => (
          <div key={name} className="flex items-center gap-2 text-xs" data-testid="importance-bar" data-name={name} data-importance={share}>
            <span className="w-32 truncate text-slate-600">{name}</span>
            <div className="h-3 flex-1 rounded bg-slate-100">
              <div className={`h-3 rounded ${rho >= 0 ? "bg-emerald-500" : "bg-rose-400"}`} style={{ width: `${100 * share}%` }} />
            </div>
            <span className="w-32 whitespace-nowrap text-right tabular-nums">
              {number(share)} (ρ {number(rho)})
            </span>
          </div>
        ))}
      </div>
    </Panel>
  );
}

export function CandidateProvenanceViews({ runId, lastIteration, candidateNames, picked, onPick }: { runId: string; lastIteration: number | null; candidateNames: readonly string[]; picked: ChartPoint | null; onPick: (point: ChartPoint) => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const query = useQuery(trpc.provenance.ofRun.queryOptions({ id: runId }));
  const [weightsCandidate, setWeightsCandidate] = useState<number | null>(null);
  useEffect(() => {
    // A streamed iteration is a new set of rows: read them again.
    if (lastIteration !== null) void queryClient.invalidateQueries({ queryKey: trpc.provenance.ofRun.queryKey({ id: runId }) });
  }, [lastIteration, queryClient, trpc, runId]);

  const data = query.data;
  if (!data || data.rows.length === 0 || !data.space) {
    return data ? (
      <p className="text-sm text-slate-500" data-testid="provenance-empty">
        No candidate provenance recorded{data.rows.length === 0 ? " yet" : ""}.
      </p>
    ) : null;
  }
  const space = data.space;
  const byKey = new Map(data.rows.map((row) => [rowKey(row), row]));
  const candidates = 1 + Math.max(...data.rows.map((row) => row.candidate));
  const best = data.best && byKey.get(rowKey(data.best));
  const pickedRow = picked ? byKey.get(rowKey(picked)) : undefined;
  const names = space.mode === "recipe" ? coefficientNames(space) : null;
  const lastRecorded = data.rows.at(-1)!.iteration;
  return (
    <section className="space-y-4" data-testid="candidate-provenance">
      <h2 className="text-lg font-semibold">What the search found</h2>
      {pickedRow ? (
        <Lineage row={pickedRow} byKey={byKey} onPick={onPick} candidateNames={candidateNames} recipeNames={names} />
      ) : (
        <p className="text-sm text-slate-500" data-testid="lineage-hint">
          Click a candidate&apos;s point on the chart to see what produced it.
        </p>
      )}
      <div className="grid gap-4 lg:grid-cols-2">
        {space.mode === "recipe" && best && <BestRecipe space={space} row={best} />}
        {space.mode === "recipe" && <WeightsOverIterations space={space} rows={data.rows} candidate={weightsCandidate ?? picked?.candidate ?? data.best?.candidate ?? 0} candidates={candidates} onCandidate={setWeightsCandidate} candidateNames={candidateNames} />}
        {space.mode === "weights" && <ModuleDistances space={space} rows={data.rows} iteration={picked?.iteration ?? lastRecorded} candidateNames={candidateNames} />}
      </div>
      {names && (
        <>
          <ParallelCoordinates names={names} rows={data.rows} picked={picked} />
          <Importance names={names} importance={data.importance} />
        </>
      )}
    </section>
  );
}
