import { describe, expect, it } from "vitest";
import { ranks, recipeImportance, spearman } from "./recipe-importance";

describe("recipe importance (squared Spearman ρ, normalised)", () => {
  it("ranks ties by their mean rank", () => {
    expect(ranks([10, 30, 20, 30])).toEqual([1, 3.5, 2, 3.5]);
  });

  it("is Spearman's ρ: 1 for any increasing relation, −1 for a decreasing one, the textbook value with ties", () => {
    expect(spearman([1, 2, 3, 4], [1, 8, 27, 64])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    // x ranks 1..5, y ranks (2, 1, 4, 3, 5): Σd² = 4, ρ = 1 − 6·4 / (5·24) = 0.8.
    expect(spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])).toBeCloseTo(0.8, 12);
    expect(spearman([1, 1, 1], [1, 2, 3])).toBe(0);
  });

  it("gives the coefficient that drives the utility the importance, normalised to 1, with its sign", () => {
    const points = [
      [0.1, 0.9, 0.5],
      [0.4, 0.2, 0.5],
      [0.8, 0.6, 0.5],
      [1.0, 0.1, 0.5],
    ];
    const utilities = points.map(([a]) => -a!);
    const importance = recipeImportance(points, utilities);
    expect(importance[0]!.rho).toBeCloseTo(-1, 12);
    expect(importance[2]).toEqual({ rho: 0, importance: 0 });
    expect(importance.reduce((sum, { importance: share }) => sum + share, 0)).toBeCloseTo(1, 12);
    expect(importance[0]!.importance).toBeGreaterThan(importance[1]!.importance);
    // u ranks (4, 3, 2, 1), b ranks (4, 2, 3, 1): Σd² = 2, ρ = 1 − 6·2 / (4·15) = 0.8, so the shares are 1/1.64 and 0.64/1.64.
    expect(importance[1]!.rho).toBeCloseTo(0.8, 12);
    expect(importance[0]!.importance).toBeCloseTo(1 / 1.64, 12);
    expect(recipeImportance([[1], [1]], [0.2, 0.4])).toEqual([{ rho: 0, importance: 0 }]);
  });
});
