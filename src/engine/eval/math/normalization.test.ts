import { describe, expect, it } from "vitest";
import { normalizeLatex } from "./normalization";

describe("normalizeLatex", () => {
  it.each([
    ["$\\dfrac{1}{2}$", "\\frac{1}{2}"],
    ["\\left( 1, 2 \\right]", "( 1, 2 ]"],
    ["\\left\\{ 1, 2 \\right\\}", "\\{ 1, 2 \\}"],
    ["\\displaystyle\\tfrac{3}{4}", "\\frac{3}{4}"],
    ["1,234,567", "1234567"],
    ["1{,}000", "1000"],
    ["1,2", "1,2"],
    ["30^\\circ", "30"],
    ["30^{\\circ}", "30"],
    ["30°", "30"],
    ["5\\text{ cm}^2", "5"],
    ["10 \\text{ dollars}", "10"],
    ["\\text{Monday}", "\\text{Monday}"],
    ["\\textbf{ Monday  noon }", "\\text{Monday noon}"],
    ["2 \\text{or} 3", "2 or 3"],
    ["\\text{A}", "A"],
    ["\\mathrm{(B)}", "(B)"],
    ["3x \\quad", "3x"],
    ["\\$ 4.50", "4.50"],
    ["12.", "12"],
    ["２５", "25"],
  ])("%s → %s", (answer, expected) => {
    expect(normalizeLatex(answer).latex).toBe(expected);
  });

  it("notes a percentage and drops its sign", () => {
    expect(normalizeLatex("25\\%")).toEqual({ latex: "25", percent: true });
    expect(normalizeLatex("25%")).toEqual({ latex: "25", percent: true });
    expect(normalizeLatex("25")).toEqual({ latex: "25", percent: false });
  });

  it("keeps a variable that is also a unit's letter: 3m is not 3 metres", () => {
    expect(normalizeLatex("3m").latex).toBe("3m");
    expect(normalizeLatex("2n+1").latex).toBe("2n+1");
  });
});
