/*
 * How much each recipe coefficient matters to the utility, by a measure cheap enough to recompute on every
 * iteration: the squared Spearman rank correlation of the coefficient with the utility over every evaluated
 * candidate, normalised so the coefficients' importances sum to 1 (Optuna's fANOVA is the heavier standard).
 */

/** Ranks from 1, ties sharing their mean rank (as Spearman's ρ with ties needs). */
export function ranks(values: readonly number[]): number[] {
  const order = values.map((value, index) => ({ value, index })).sort((a, b) => a.value - b.value);
  const result = new Array<number>(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]!.value === order[start]!.value) end += 1;
    const mean = (start + end) / 2 + 1;
    for (let k = start; k <= end; k += 1) result[order[k]!.index] = mean;
    start = end + 1;
  }
  return result;
}

/** Spearman's ρ: Pearson's correlation of the ranks; 0 when either side does not vary. */
export function spearman(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new Error(`spearman: ${x.length} values against ${y.length}`);
  const [rx, ry] = [ranks(x), ranks(y)];
  const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
  const [mx, my] = [mean(rx), mean(ry)];
  let covariance = 0;
  let vx = 0;
  let vy = 0;
  for (let k = 0; k < rx.length; k += 1) {
    covariance += (rx[k]! - mx) * (ry[k]! - my);
    vx += (rx[k]! - mx) ** 2;
    vy += (ry[k]! - my) ** 2;
  }
  return vx === 0 || vy === 0 ? 0 : covariance / Math.sqrt(vx * vy);
}

/**
 * Each coefficient's ρ² with the utility, normalised to sum to 1 (all 0 when none correlates), with ρ itself
 * for the sign. `points`: the evaluated recipes; `utilities`: their utilities, in the same order.
 */
export function recipeImportance(points: readonly (readonly number[])[], utilities: readonly number[]): Array<{ rho: number; importance: number }> {
  const dimension = points[0]?.length ?? 0;
  const rhos = Array.from({ length: dimension }, (_, k) => (points.length < 2 ? 0 : spearman(points.map((point) => point[k]!), utilities)));
  const total = rhos.reduce((sum, rho) => sum + rho * rho, 0);
  return rhos.map((rho) => ({ rho, importance: total === 0 ? 0 : (rho * rho) / total }));
}
