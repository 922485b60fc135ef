import { describe, expect, it } from "vitest";
import { extractMathAnswer, lastBoxed } from "./extraction";

describe("extractMathAnswer", () => {
  it.each([
    ["So the answer is $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"],
    ["First \\boxed{3}, then corrected: \\boxed{4}", "4"],
    ["\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt{3}}{2}"],
    ["\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"],
    ["\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"],
    ["The total is \\boxed 5.", "5"],
    ["\\fbox{(1,2]}", "(1,2]"],
    ["Final Answer: The final answer is $x^2+1$. I hope it is correct.", "x^2+1"],
    ["Final Answer: The final answer is 12. I hope it is correct.", "12"],
    ["The final answer is \\frac{3}{4}", "\\frac{3}{4}"],
    ["She pays 3 + 4 = 7 dollars.\n#### 7", "7"],
    ["The answer is $(1, 2)$.", "(1, 2)"],
    ["We find $x = 3$ and so $y = 5$", "y = 5"],
    ["after all that, 42 remain", "42"],
    ["no answer here", undefined],
  ])("%s → %s", (text, expected) => {
    expect(extractMathAnswer(text)).toBe(expected);
  });

  it("an unclosed \\boxed{ gives no boxed answer", () => {
    expect(lastBoxed("\\boxed{1 + ")).toBeUndefined();
    expect(extractMathAnswer("It is $7$. \\boxed{1 + ")).toBe("7");
  });
});
