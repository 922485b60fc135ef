import { describe, expect, it } from "vitest";
import { DeadlineExceeded, evaluate, variablesOf, type MathJson } from "./evaluation";

const never = Number.POSITIVE_INFINITY;
const at = (expression: MathJson, values: Record<string, number> = {}) => evaluate(expression, new Map(Object.entries(values)), never);

describe("evaluate", () => {
  it("computes the heads answers use, real and complex", () => {
    expect(at(["Add", ["Power", "x", 2], ["Multiply", 2, "x"], 1], { x: 3 })).toEqual({ re: 16, im: 0 });
    expect(at(["Divide", ["Sqrt", 3], 2]).re).toBeCloseTo(Math.sqrt(3) / 2);
    expect(at(["Root", -8, 3])).toEqual({ re: -2, im: 0 });
    const eToIPi = at(["Power", "ExponentialE", ["Multiply", ["Complex", 0, 1], "Pi"]]);
    expect(eToIPi.re).toBeCloseTo(-1);
    expect(eToIPi.im).toBeCloseTo(0);
    expect(at({ num: "0.(3)" }).re).toBeCloseTo(1 / 3, 12);
  });

  it("an overflow is unknown, not infinite; a written infinity stays one", () => {
    expect(at(["Power", 10, ["Power", 10, 10]]).re).toBeNaN();
    expect(at(["Factorial", 100000]).re).toBeNaN();
    expect(at(["Negate", "PositiveInfinity"]).re).toBe(Number.NEGATIVE_INFINITY);
  });

  it("leaves what it does not compute unknown: sums, strings, unknown heads", () => {
    expect(at(["Sum", "n", ["Tuple", "n", 1, 1000000000]]).re).toBeNaN();
    expect(at("'Monday'").re).toBeNaN();
  });

  it("stops past its deadline", () => {
    expect(() => evaluate(["Add", 1, 2], new Map(), performance.now() - 1)).toThrow(DeadlineExceeded);
  });

  it("names the variables, not the constants", () => {
    expect([...variablesOf(["Add", ["Multiply", "Pi", "x"], ["At", "a", 1], "ExponentialE", ["Complex", 0, 1], "ImaginaryUnit"])].sort()).toEqual(["a", "x"]);
  });
});
