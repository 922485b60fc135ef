import { describe, expect, it } from "vitest";
import { candidateLabel } from "./candidate-label";

describe("candidateLabel", () => {
  it("names a candidate by the expert it started as, where there is one", () => {
    expect(candidateLabel(3, ["a", "b", "c", "math"])).toBe("candidate 3 (math)");
    expect(candidateLabel(9, ["a", "b"])).toBe("candidate 9");
  });
});
