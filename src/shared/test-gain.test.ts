import { describe, expect, it } from "vitest";
import { formatTestGain } from "./test-gain";

describe("formatTestGain", () => {
  it("gives an accuracy's gain in percentage points", () => {
    expect(formatTestGain(0.5, 0.625, 1, true)).toBe("12.5 pts");
    expect(formatTestGain(0.5, 0.25, 1, true)).toBe("-25.0 pts");
  });

  it("counts a fall in perplexity as a gain, in the utility's own units rather than points", () => {
    expect(formatTestGain(12.5, 10, -1, false)).toBe("2.500");
    expect(formatTestGain(10, 12.5, -1, false)).toBe("-2.500");
  });

  it("says nothing where either side was not measured", () => {
    expect(formatTestGain(null, 0.5, 1, true)).toBe("—");
    expect(formatTestGain(0.5, undefined, 1, true)).toBe("—");
  });
});
