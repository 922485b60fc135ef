/*
 * What the dashboard's charts share and can be checked without a browser: the line palette, the axes' domains
 * and ticks, line names, legend visibility and the detection of lines that would hide each other.
 */

/**
 * Tableau 10 without its red and green, which are the global worst's and best's colours: eight hues that differ
 * from each other and from those two at a glance. A ninth line repeats a hue with a dash pattern of its own.
 */
export const CANDIDATE_COLORS = ["#4e79a7", "#f28e2b", "#76b7b2", "#b07aa1", "#edc948", "#9c755f", "#ff9da7", "#bab0ac"];
export const BEST_COLOR = "#15803d";
export const WORST_COLOR = "#dc2626";
/** What the y axis and the margins take of a chart's width; the rest is the plot, where x labels must fit. */
export const PLOT_INSET_PX = 72;

const DASHES = [undefined, "6 3", "2 2", "8 3 2 3"];

export function candidateStroke(index: number): { color: string; dash: string | undefined } {
  return { color: CANDIDATE_COLORS[index % CANDIDATE_COLORS.length]!, dash: DASHES[Math.floor(index / CANDIDATE_COLORS.length) % DASHES.length] };
}

/** Round tick steps: 1, 2, 2.5 and 5 times a power of ten. */
function niceStep(rough: number): number {
  const power = 10 ** Math.floor(Math.log10(rough));
  for (const factor of [1, 2, 2.5, 5, 10]) if (factor * power >= rough - 1e-12) return factor * power;
  return 10 * power;
}

function ticksOf(low: number, high: number, step: number): number[] {
  const ticks: number[] = [];
  for (let tick = Math.ceil(low / step - 1e-9) * step; tick <= high + 1e-9; tick += step) ticks.push(Number(tick.toFixed(10)));
  return ticks;
}

/**
 * The y axis: 0–1 in steps of 0.1 for an accuracy, so runs and reloads read the same; otherwise a range around
 * the values on round ticks (a flat run is not blown up: at least 0.1 high).
 */
export function utilityScale(values: readonly number[], accuracy: boolean): { domain: [number, number]; ticks: number[] } {
  if (accuracy) return { domain: [0, 1], ticks: ticksOf(0, 1, 0.1) };
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return { domain: [0, 1], ticks: ticksOf(0, 1, 0.2) };
  let low = Math.min(...finite);
  let high = Math.max(...finite);
  if (high - low < 0.1) {
    const middle = (low + high) / 2;
    low = middle - 0.05;
    high = middle + 0.05;
  }
  const step = niceStep((high - low) / 5);
  const domain: [number, number] = [Number((Math.floor(low / step + 1e-9) * step).toFixed(10)), Number((Math.ceil(high / step - 1e-9) * step).toFixed(10))];
  return { domain, ticks: ticksOf(domain[0], domain[1], step) };
}

/**
 * Ticks for an integer x axis from 0 to `last` that fit `widthPx`: every value while each label has
 * `spacingPx`, else every 2nd, 5th, 10th, … — a round step, never a label recharts drops on its own.
 */
export function integerTicks(last: number, widthPx: number, spacingPx = 32): number[] {
  const end = Math.max(1, last);
  const fitting = Math.max(1, Math.floor(widthPx / spacingPx));
  let step = 1;
  for (let power = 1; end / step > fitting; power *= 10) step = [1, 2, 5, 10].map((factor) => factor * power).find((candidate) => end / candidate <= fitting) ?? 10 * power;
  return ticksOf(0, end, step);
}

/**
 * Legend clicks: a plain click hides or shows one line; isolating shows only that line, and isolating the line
 * that is already alone shows every line again.
 */
export function nextHidden(hidden: ReadonlySet<string>, key: string, all: readonly string[], isolate: boolean): Set<string> {
  if (isolate) {
    const alone = !hidden.has(key) && all.every((other) => other === key || hidden.has(other));
    return alone ? new Set() : new Set(all.filter((other) => other !== key));
  }
  const next = new Set(hidden);
  if (next.has(key)) next.delete(key);
  else next.add(key);
  return next;
}

/**
 * For each series, the index of the first earlier series with exactly the same points (null if none): such
 * lines would be drawn on top of each other, so the chart offsets them and says which is the same as which.
 */
export function sameAsEarlier(series: ReadonlyArray<ReadonlyArray<readonly [number, number]>>): Array<number | null> {
  const keys = series.map((points) => JSON.stringify(points));
  return keys.map((key, index) => {
    if (series[index]!.length === 0) return null;
    const first = keys.indexOf(key);
    return first < index ? first : null;
  });
}
