/*
 * The arithmetic of `npm run bench:search`, kept apart from running searches so that it is tested on its own: how an
 * evaluation budget becomes iterations, a run's best-so-far curve, and the summaries over seeds.
 */

/** The linear-interpolation quantile (numpy's default, R's type 7) of values in any order. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new Error("a quantile of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.min(sorted.length - 1, below + 1);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (position - below);
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** The first and third quartiles. */
  q1: number;
  q3: number;
}

export function spreadOf(values: readonly number[]): Spread {
  return { median: quantile(values, 0.5), min: Math.min(...values), max: Math.max(...values), q1: quantile(values, 0.25), q3: quantile(values, 0.75) };
}

/** How an optimizer spends evaluations: a first generation (the starting population), then one per iteration. */
export interface GenerationSizes {
  initial: number;
  perIteration: number;
}

/**
 * The most iterations whose evaluations fit in `budget`, and the evaluations they use (≤ budget: a generation that
 * does not fit is not started). A search needs its first generation and at least one move.
 */
export function iterationsWithinBudget(budget: number, { initial, perIteration }: GenerationSizes): { maxIteration: number; evaluations: number } {
  const maxIteration = Math.floor((budget - initial) / perIteration);
  if (maxIteration < 1) {
    throw new Error(`--evaluations: expected at least ${initial + perIteration} (a first generation of ${initial} and one iteration of ${perIteration}), got ${budget}`);
  }
  return { maxIteration, evaluations: initial + maxIteration * perIteration };
}

/** The best utility after each evaluation, from every dev utility in the order the search evaluated them. */
export function bestSoFar(utilities: readonly number[]): number[] {
  const curve: number[] = [];
  let best = Number.NEGATIVE_INFINITY;
  for (const utility of utilities) curve.push((best = Math.max(best, utility)));
  return curve;
}

/** One finished search of the bench, as its raw JSON keeps it. */
export interface RunResult {
  optimizer: string;
  objective: string;
  seed: number;
  /** Dev utility of the ending global best, and its test utility. */
  dev: number;
  test: number;
  /** Dev evaluations the search made, and the budget it was given. */
  evaluations: number;
  budget: number;
  wallMs: number;
  /** The best-so-far dev utility after each evaluation (length `evaluations`). */
  curve: number[];
}

export interface Summary {
  optimizer: string;
  objective: string;
  runs: number;
  dev: Spread;
  test: Spread;
  /** dev − test of each run's ending best: how much the dev set's choice overstates the result. */
  gap: Spread;
  evaluations: Spread;
  wallSeconds: Spread;
}

/** Per (optimizer, objective), in the order the pairs first appear. */
export function summarize(runs: readonly RunResult[]): Summary[] {
  const groups = new Map<string, RunResult[]>();
  for (const run of runs) {
    const key = JSON.stringify([run.optimizer, run.objective]);
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  return [...groups.values()].map((group) => ({
    optimizer: group[0]!.optimizer,
    objective: group[0]!.objective,
    runs: group.length,
    dev: spreadOf(group.map((run) => run.dev)),
    test: spreadOf(group.map((run) => run.test)),
    gap: spreadOf(group.map((run) => run.dev - run.test)),
    evaluations: spreadOf(group.map((run) => run.evaluations)),
    wallSeconds: spreadOf(group.map((run) => run.wallMs / 1000)),
  }));
}

export interface CurveBand {
  median: number[];
  low: number[];
  high: number[];
}

/**
 * The median, lowest and highest best-so-far over seeds at every evaluation count up to the longest run. A run that
 * stopped early (patience) keeps its final best for the evaluations it did not make, since that is what it returns.
 */
export function curveBand(curves: readonly (readonly number[])[]): CurveBand {
  const length = Math.max(...curves.map((curve) => curve.length));
  const band: CurveBand = { median: [], low: [], high: [] };
  for (let index = 0; index < length; index += 1) {
    const values = curves.map((curve) => curve[Math.min(index, curve.length - 1)]!);
    band.median.push(quantile(values, 0.5));
    band.low.push(Math.min(...values));
    band.high.push(Math.max(...values));
  }
  return band;
}

/** 0.612 → "61.2". */
const percent = (value: number) => (value * 100).toFixed(1);
const spreadText = (spread: Spread, format: (value: number) => string) => `${format(spread.median)} (${format(spread.min)}–${format(spread.max)}; IQR ${format(spread.q1)}–${format(spread.q3)})`;

/** The bench's table: one row per (objective, optimizer); utilities in percent. */
export function resultsTable(summaries: readonly Summary[], labels: { optimizer: (id: string) => string; objective: (id: string) => string }): string {
  const rows = summaries.map((summary) =>
    [
      labels.objective(summary.objective),
      labels.optimizer(summary.optimizer),
      String(summary.runs),
      spreadText(summary.dev, percent),
      spreadText(summary.test, percent),
      `${percent(summary.gap.median)} (${percent(summary.gap.min)}–${percent(summary.gap.max)})`,
      summary.evaluations.min === summary.evaluations.max ? String(summary.evaluations.median) : `${summary.evaluations.median} (${summary.evaluations.min}–${summary.evaluations.max})`,
      summary.wallSeconds.median.toFixed(0),
    ].join(" | "),
  );
  return [
    "| objective | optimizer | seeds | dev % median (min–max; IQR) | test % median (min–max; IQR) | dev − test, points | evaluations | wall s (median) |",
    "|---|---|---:|---|---|---|---|---:|",
    ...rows.map((row) => `| ${row} |`),
  ].join("\n");
}
