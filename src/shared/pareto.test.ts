import { describe, expect, it } from "vitest";
import { paretoFront, type Objectives } from "./pareto";

/** The definition itself, point against point: what the one-pass front must agree with. */
function dominatedByDefinition(points: Array<{ x: number; y: number }>, { x, y }: Objectives): boolean[] {
  const atLeast = (a: number, b: number, direction: "max" | "min") => (direction === "max" ? a >= b : a <= b);
  return points.map((p) => points.some((q) => atLeast(q.x, p.x, x) && atLeast(q.y, p.y, y) && (q.x !== p.x || q.y !== p.y)));
}

describe("paretoFront", () => {
  it("keeps accuracy × mean tokens trade-offs (more accuracy, fewer tokens) and drops what another beats on both", () => {
    const points = [
      { x: 0.5, y: 10 }, // the most accurate
      { x: 0.4, y: 4 }, // less accurate, much shorter: a trade-off
      { x: 0.4, y: 6 }, // as accurate as the one above and longer: dominated
      { x: 0.2, y: 2 }, // the shortest
      { x: 0.1, y: 12 }, // worse on both than the first
    ];
    expect(paretoFront(points, { x: "max", y: "min" })).toEqual([true, true, false, true, false]);
  });

  it("keeps equal points both on the front, and never puts an unmeasured one on it", () => {
    const points = [{ x: 0.3, y: 0.3 }, { x: 0.3, y: 0.3 }, { x: Number.NaN, y: 1 }, { x: 0.2, y: 0.1 }];
    expect(paretoFront(points, { x: "max", y: "max" })).toEqual([true, true, false, false]);
  });

  it("agrees with the definition on every direction, ties included", () => {
    let seed = 7;
    const draw = () => ((seed = (seed * 16807) % 2147483647) % 6) / 5;
    for (const objectives of [{ x: "max", y: "max" }, { x: "max", y: "min" }, { x: "min", y: "max" }, { x: "min", y: "min" }] as Objectives[]) {
      for (let trial = 0; trial < 50; trial += 1) {
        const points = Array.from({ length: 12 }, () => ({ x: draw(), y: draw() }));
        expect(paretoFront(points, objectives)).toEqual(dominatedByDefinition(points, objectives).map((dominated) => !dominated));
      }
    }
  });
});
