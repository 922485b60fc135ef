import { describe, expect, it } from "vitest";
import { areEquivalent, COMPARISON_TIME_LIMIT_MS, MAX_ANSWER_LENGTH, MAX_NESTING } from "./equivalence";

/*
 * Answer pairs with the verdicts of the field's graders, as their documentation and tests state them:
 * Qwen2.5-Math's `math_equal` (numbers within isclose(rel_tol=1e-4), percentages, "x = 3" against "3",
 * equations either way round, ordered lists, matrices) and HF math_verify (intervals whose open and closed ends
 * differ, sets in any order, LaTeX presentation ignored). [predicted, gold, equivalent]
 */
const table: Array<[string, string, boolean]> = [
  // numbers
  ["3", "3", true],
  ["3.0", "3", true],
  ["-7", "-7.00", true],
  ["0.5", "\\frac{1}{2}", true],
  ["\\frac{2}{4}", "\\frac12", true],
  ["\\dfrac{3}{4}", "0.75", true],
  ["\\tfrac{3}{4}", "\\frac{3}{4}", true],
  ["-\\frac{3}{4}", "\\frac{-3}{4}", true],
  ["\\frac{3}{4}", "\\frac{4}{3}", false],
  ["1,000", "1000", true],
  ["025", "25", true],
  ["\\$1,000", "1000", true],
  ["1{,}000{,}000", "1000000", true],
  ["1\\,000", "1000", true],
  ["12", "13", false],
  ["0.3333", "\\frac{1}{3}", true],
  ["0.33", "\\frac{1}{3}", false],
  ["0.\\overline{3}", "\\frac{1}{3}", true],
  ["2.5\\times10^{3}", "2500", true],
  ["1e-3", "0.001", true],
  ["-0", "0", true],
  ["0", "0.0001", false],
  // radicals, π, e, logarithms
  ["\\frac{\\sqrt{3}}{2}", "0.8660254", true],
  ["\\frac{\\sqrt{3}}{2}", "0.866", true],
  ["\\frac{\\sqrt{3}}{2}", "0.87", false],
  ["2\\sqrt{2}", "\\sqrt{8}", true],
  ["\\sqrt{2}", "\\sqrt{3}", false],
  ["\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt{2}}{2}", true],
  ["\\sqrt[3]{27}", "3", true],
  ["\\sqrt[3]{-8}", "-2", true],
  ["2\\pi", "6.2832", true],
  ["2\\pi", "6.28", false],
  ["\\frac{\\pi}{3}", "\\frac{1}{3}\\pi", true],
  ["\\pi", "3.14", false],
  ["\\log_2 8", "3", true],
  ["\\ln(e^2)", "2", true],
  ["e^{i\\pi}", "-1", true],
  // complex numbers
  ["3+2i", "2i+3", true],
  ["3+2i", "3-2i", false],
  ["\\frac{1+i}{2}", "0.5+0.5i", true],
  // LaTeX presentation
  ["\\left( \\frac{1}{2} \\right)", "\\frac{1}{2}", true],
  ["\\displaystyle \\frac{1}{2}", "0.5", true],
  ["$\\frac{1}{2}$", "\\frac12", true],
  ["\\text{Monday}", "Monday", true],
  ["\\textbf{Monday}", "\\text{Tuesday}", false],
  ["\\text{(C)}", "(C)", true],
  ["\\mathrm{5}", "5", true],
  // words are text, not products of letters; as in math_verify, case is meaning for a letter, not for a word
  ["\\text{ACB}", "\\text{ABC}", false],
  ["\\text{dog}", "\\text{god}", false],
  ["\\text{ABC}", "\\text{ABC}", true],
  ["\\text{Monday}", "\\text{monday}", true],
  ["\\text{(C)}", "C", true],
  ["\\Pi", "\\pi", false],
  ["B", "b", false],
  ["\\text{B}", "B", true],
  ["\\text{B}", "b", false],
  // "or" and "and" between values: the values, in any order
  ["2 \\text{ or } 3", "1 \\text{ or } 6", false],
  ["2 \\text{ or } 3", "3 \\text{ or } 2", true],
  ["2 \\text{ or } 3", "2, 3", true],
  ["2 \\text{ or } 3", "2", false],
  ["x=1 \\text{ and } x=2", "1, 2", true],
  ["1 \\text{ and } 2", "1 \\text{ and } 3", false],
  // units, degrees, percent, money
  ["5 \\text{ cm}", "5", true],
  ["5\\text{cm}", "5", true],
  ["12 \\text{ square units}", "12", true],
  ["5\\text{ cm}", "6", false],
  ["30^\\circ", "30", true],
  ["30^{\\circ}", "30", true],
  ["45^\\circ", "30^\\circ", false],
  ["50\\%", "50", true],
  ["50\\%", "0.5", true],
  ["50\\%", "0.25", false],
  ["\\$18.90", "18.9", true],
  // expressions
  ["x^2+2x+1", "(x+1)^2", true],
  ["x^2+2x+1", "(x-1)^2", false],
  ["x^2 + 1", "x^2", false],
  ["\\frac{x}{7}+\\frac{2}{7}", "\\frac{x+2}{7}", true],
  ["\\sin^2 x+\\cos^2 x", "1", true],
  ["\\sec^2 y", "\\tan^2 y + 1", true],
  ["2(x+1)", "2x+2", true],
  ["x^2", "y^2", false],
  ["a+b", "b+a", true],
  ["\\frac{x^2-1}{x-1}", "x+1", true],
  ["|x|", "x", false],
  ["\\sqrt{x^2}", "|x|", true],
  ["n(n+1)/2", "\\frac{n^2+n}{2}", true],
  ["2^{n+1}", "2\\cdot 2^n", true],
  ["2^{n}", "n^2", false],
  // equations and inequalities
  ["x = 3", "3", true],
  ["3", "x=3", true],
  ["x = 3", "4", false],
  ["y=2x+1", "2x+1=y", true],
  ["y=2x+1", "2x+1", true],
  ["y = 2x + 1", "y = 2x - 1", false],
  ["2y = 4x + 2", "y = 2x + 1", true],
  ["x + y = 5", "5", false],
  ["x \\geq 2", "2 \\le x", true],
  ["x > 2", "x \\ge 2", false],
  ["x < 2", "x > 2", false],
  // intervals
  ["(1, 2]", "\\left(1,2\\right]", true],
  ["(1, 2]", "[1, 2]", false],
  ["[1, 2)", "[1, 2)", true],
  ["(1,2)", "[1,2]", false],
  ["[0, \\infty)", "\\left[0,\\infty\\right)", true],
  ["(-\\infty, 2) \\cup (3, \\infty)", "(3,\\infty)\\cup(-\\infty,2)", true],
  ["(-\\infty, 2] \\cup (3, \\infty)", "(-\\infty,2)\\cup(3,\\infty)", false],
  ["\\left[\\frac{1}{2}, 3\\right]", "[0.5, 3]", true],
  ["x \\in (2, \\infty)", "(2,\\infty)", true],
  ["x \\in [2, \\infty)", "(2,\\infty)", false],
  ["-\\infty", "\\infty", false],
  // sets and lists of solutions
  ["\\{1, 2\\}", "\\{2, 1\\}", true],
  ["\\{1, 2\\}", "\\{1, 3\\}", false],
  ["\\{1, 2\\}", "\\{1, 2, 3\\}", false],
  ["1, 2", "2, 1", true],
  ["1, -2", "-2,1", true],
  ["\\emptyset", "\\varnothing", true],
  ["1 \\pm \\sqrt{2}", "1+\\sqrt{2}, 1-\\sqrt{2}", true],
  ["\\{3\\}", "3", true],
  // tuples: order matters
  ["(1, 2)", "(1, 2)", true],
  ["(1, 2)", "(2, 1)", false],
  ["(1, 4.5)", "\\left(1, \\frac{9}{2}\\right)", true],
  ["(1, 2, 3)", "(1, 2)", false],
  ["(\\frac{1}{2}, -3)", "(0.5,-3)", true],
  // matrices and vectors
  ["\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", true],
  ["\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", true],
  ["\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&5\\end{pmatrix}", false],
  ["\\begin{pmatrix}-\\frac{7}{4}&-2\\\\4&\\frac{1}{4}\\end{pmatrix}", "\\begin{pmatrix}-1.75&-2\\\\4&0.25\\end{pmatrix}", true],
  ["\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}1&2\\end{pmatrix}", false],
  ["\\begin{pmatrix} 2 \\\\ -1 \\end{pmatrix}", "\\begin{pmatrix}2\\\\-1\\end{pmatrix}", true],
  // numbers past floating point: unknown, so equal only as written
  ["10^{10^{10}}", "10^{10^{11}}", false],
  ["200!", "201!", false],
  ["200!", "200!", true],
  ["\\frac{1}{0}", "\\frac{2}{0}", false],
  ["\\frac{1}{0}", "\\frac{1}{0}", true],
  ["\\infty", "2\\infty", false],
  // nothing to compare
  ["", "3", false],
  ["\\frac{", "3", false],
];

describe("areEquivalent: the graders' verdicts", () => {
  it("has at least 80 pairs, equivalent and not", () => {
    expect(table.length).toBeGreaterThanOrEqual(80);
    expect(table.filter(([, , verdict]) => !verdict).length).toBeGreaterThanOrEqual(30);
  });

  it.each(table)("%s vs %s → %s", (predicted, gold, verdict) => {
    expect(areEquivalent(predicted, gold)).toBe(verdict);
  });

  it.each(table)("is symmetric: %s vs %s", (predicted, gold, verdict) => {
    expect(areEquivalent(gold, predicted)).toBe(verdict);
  });
});

describe("areEquivalent: a hostile answer cannot stall an evaluation", () => {
  const within = (compare: () => boolean) => {
    const started = performance.now();
    const verdict = compare();
    return { verdict, elapsed: performance.now() - started };
  };

  it.each([
    ["deeply nested", "\\frac{".repeat(200) + "1" + "}{2}".repeat(200)],
    ["deeply nested brackets", "(".repeat(5000) + "x" + ")".repeat(5000)],
    ["huge", Array.from({ length: 20_000 }, (_, index) => `x^{${index}}`).join("+")],
    ["longer than any answer", "1+".repeat(MAX_ANSWER_LENGTH) + "1"],
  ])("%s: not equivalent, at once", (_, hostile) => {
    const { verdict, elapsed } = within(() => areEquivalent(hostile, "1"));
    expect(verdict).toBe(false);
    expect(elapsed).toBeLessThan(COMPARISON_TIME_LIMIT_MS);
  });

  it.each([
    // Arbitrary precision would expand these; the evaluator's floats make them Infinity, or leave them unevaluated.
    ["a tower of powers", "10^{10^{10^{10}}}", "1"],
    ["a huge factorial", "100000!", "1"],
    ["a huge power of a polynomial", "(x+1)^{100000}", "x^{100000}"],
    ["a billion-term sum", "\\sum_{n=1}^{1000000000} n", "500000000500000000"],
  ])("%s finishes within the time limit, not equivalent", (_, hostile, gold) => {
    const { verdict, elapsed } = within(() => areEquivalent(hostile, gold));
    expect(verdict).toBe(false);
    expect(elapsed).toBeLessThan(COMPARISON_TIME_LIMIT_MS);
  });

  it("the longest answers that are parsed, at the nesting limit, finish within the time limit", () => {
    const heavy = (count: number) => Array.from({ length: count }, (_, index) => `(x+${index % 10})^{2}`).join("+").slice(0, MAX_ANSWER_LENGTH);
    const nested = "\\frac{".repeat(MAX_NESTING / 2) + "x" + "}{2}".repeat(MAX_NESTING / 2);
    for (const [predicted, gold] of [[heavy(40), `${heavy(40).slice(0, -5)}+1`], [nested, `${nested}+1`]] as const) {
      expect(predicted.length).toBeLessThanOrEqual(MAX_ANSWER_LENGTH);
      const { verdict, elapsed } = within(() => areEquivalent(predicted, gold));
      expect(verdict).toBe(false);
      expect(elapsed).toBeLessThan(COMPARISON_TIME_LIMIT_MS);
    }
  });

  it("a comparison past its time limit is not equivalent, however equal", () => {
    // A limit already spent: even an identity is refused rather than finished late.
    expect(areEquivalent("x^2+2x+1", "(x+1)^2", 0)).toBe(false);
    expect(areEquivalent("x^2+2x+1", "(x+1)^2")).toBe(true);
  });
});
