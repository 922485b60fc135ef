/*
 * The Pareto front of evaluated candidates on two objectives, for the run page's multi-objective view. Pure, and
 * free of the engine and the server: the page computes it again when the user picks other axes.
 */

/** Whether an objective is better larger (accuracy, a task's utility) or smaller (mean generated tokens). */
export type Direction = "max" | "min";

export interface Objectives {
  x: Direction;
  y: Direction;
}

/** `a` is at least as good as `b` on the objective, and strictly better when `strict`. */
function better(a: number, b: number, direction: Direction, strict: boolean): boolean {
  const difference = direction === "max" ? a - b : b - a;
  return strict ? difference > 0 : difference >= 0;
}

/**
 * For each point, whether it is on the front: no other point is at least as good on both objectives and better on
 * one. Equal points dominate none of each other, so both stay on the front; a point with a non-finite value is never
 * on it (it was not measured on that objective) and dominates nothing.
 */
export function paretoFront(points: ReadonlyArray<{ x: number; y: number }>, objectives: Objectives): boolean[] {
  const measured = points.map((point) => Number.isFinite(point.x) && Number.isFinite(point.y));
  // Sorted best-first on x (ties: best-first on y), a point is dominated exactly when an earlier one is at least as
  // good on y and strictly better on one of the two: one pass keeps the best y seen so far.
  const order = [...points.keys()].filter((index) => measured[index]).sort((a, b) => {
    const pa = points[a]!;
    const pb = points[b]!;
    if (pa.x !== pb.x) return better(pa.x, pb.x, objectives.x, true) ? -1 : 1;
    if (pa.y !== pb.y) return better(pa.y, pb.y, objectives.y, true) ? -1 : 1;
    return a - b;
  });
  const onFront = points.map(() => false);
  let bestY: number | null = null;
  let bestX: number | null = null;
  for (const index of order) {
    const { x, y } = points[index]!;
    const dominated = bestY !== null && (better(bestY, y, objectives.y, true) || (bestY === y && bestX !== x));
    if (!dominated) onFront[index] = true;
    if (bestY === null || better(y, bestY, objectives.y, true)) {
      bestY = y;
      bestX = x;
    }
  }
  return onFront;
}
