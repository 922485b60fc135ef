import { describe, expect, it } from "vitest";
import { extractAnswer, extractChoiceLetter, extractNumericAnswer, gradeAnswer, isCorrectAnswer, isJapanese, parseNumber } from "./answers";

describe("extractNumericAnswer", () => {
  it.each([
    ["She has 3 apples and buys 4 more, so 7.", "7"],
    ["The answer is 1,000.", "1,000"],
    ["The answer is 42. I checked it 3 times.", "42"],
    ["#### 18", "18"],
    ["Answer: -5", "-5"],
    ["The temperature drops to −12 degrees.", "-12"],
    ["答えは１２３４です。", "1234"],
    ["答え：５６", "56"],
    ["合計で３５個です。答えは三十五です。", "三十五"],
    ["So the result is \\boxed{\\frac{3}{4}} and not 5.", "3/4"],
    ["\\boxed{12} then later \\boxed{1,024}", "1,024"],
    ["It costs $2.50 in total.", "2.50"],
    ["Pages 3-5 were read, leaving 10", "10"],
    ["x = 3-5", "5"],
    ["He got 50%.", "50"],
    ["no digits at all", undefined],
  ])("%s → %s", (text, expected) => {
    expect(extractNumericAnswer(text)).toBe(expected);
  });
});

describe("extractNumericAnswer reads a number written right after a word of any script", () => {
  it.each([
    ["hiragana", "合計は35個です。", "35"],
    ["katakana", "ボール35個を買いました。", "35"],
    ["kanji", "りんごを全部で35個", "35"],
    ["kanji, full-width digits", "合計３５個", "35"],
    ["Chinese", "总共35个苹果", "35"],
    ["Hangul", "사과는모두35개입니다", "35"],
    ["Thai", "ทั้งหมด35ลูก", "35"],
    ["Cyrillic", "всего35яблок", "35"],
    ["Greek", "σύνολο35μήλα", "35"],
    ["Arabic", "المجموع35تفاحة", "35"],
    ["Hebrew", "סהכ35תפוחים", "35"],
    ["Devanagari", "कुल35सेब", "35"],
    ["Latin", "total35 apples", "35"],
  ])("%s: %s → %s", (_script, text, expected) => {
    expect(extractNumericAnswer(text)).toBe(expected);
    expect(isCorrectAnswer(text, expected)).toBe(true);
  });

  it("still reads a dash after a word as a dash, not a minus", () => {
    expect(extractNumericAnswer("x-5")).toBe("5");
    expect(extractNumericAnswer("合計-5")).toBe("5");
  });
});

describe("parseNumber", () => {
  it("reads separators, decimals, fractions and kanji numerals exactly", () => {
    expect(parseNumber("1,234,567")).toEqual({ numerator: 1234567n, denominator: 1n });
    expect(parseNumber("-0.25")).toEqual({ numerator: -1n, denominator: 4n });
    expect(parseNumber("6/8")).toEqual({ numerator: 3n, denominator: 4n });
    expect(parseNumber("１，０００")).toEqual({ numerator: 1000n, denominator: 1n });
    expect(parseNumber("二千二十六")).toEqual({ numerator: 2026n, denominator: 1n });
    expect(parseNumber("三万五千")).toEqual({ numerator: 35000n, denominator: 1n });
    expect(parseNumber("1/0")).toBeUndefined();
    expect(parseNumber("twelve")).toBeUndefined();
  });
});

describe("isCorrectAnswer", () => {
  // Forms that a last-\d+ regex (as in the anchors' exact_match) gets wrong.
  it.each([
    ["The answer is 1,000.", "1000"],
    ["The answer is -5.", "-5"],
    ["答えは１２です。", "12"],
    ["The answer is 3.5.", "3.5"],
    ["\\boxed{\\dfrac{1}{2}}", "0.5"],
    ["The answer is 1000.0", "1000"],
    ["The answer is 42. Check: 6 × 7 = 42, and 2 more steps.", "42"],
    ["答えは二十四です。", "24"],
  ])("%s equals %s", (generation, gold) => {
    expect(isCorrectAnswer(generation, gold)).toBe(true);
  });

  it.each([
    ["The answer is 10.", "100"],
    ["The answer is 5.", "-5"],
    ["I do not know.", "7"],
    ["Pages 3-5", "-5"],
  ])("%s does not equal %s", (generation, gold) => {
    expect(isCorrectAnswer(generation, gold)).toBe(false);
  });

  it("compares word answers case-insensitively after the marker", () => {
    expect(isCorrectAnswer("The answer is yes.", "Yes")).toBe(true);
    expect(isCorrectAnswer("The answer is no.", "Yes")).toBe(false);
    expect(isCorrectAnswer("Yes, they are connected.", "yes")).toBe(true);
  });
});

describe("extractChoiceLetter", () => {
  const labels = ["A", "B", "C", "D"];
  it.each([
    ["The answer is (B).", "B"],
    ["C. Tokyo", "C"],
    ["答えはDです。", "D"],
    ["A or B, I think the answer is A", "A"],
    ["A or B", undefined],
    ["Apples", undefined],
  ])("%s → %s", (generation, expected) => {
    expect(extractChoiceLetter(generation, labels)).toBe(expected);
  });
});

describe("isJapanese", () => {
  it("needs Japanese script for at least half of the letters", () => {
    expect(isJapanese("答えは42です。")).toBe(true);
    expect(isJapanese("カタカナとひらがな")).toBe(true);
    expect(isJapanese("The answer is 42.")).toBe(false);
    expect(isJapanese("42")).toBe(false);
    expect(isJapanese("The answer is 答え")).toBe(false);
  });
});

describe("gradeAnswer", () => {
  it.each([
    ["The answer is 1,000.", "1000"],
    ["\\boxed{12} then later \\boxed{1,024}", "1024"],
    ["答えは１２３４です。", "1234"],
  ])("numeric grades as isCorrectAnswer does: %s", (generation, gold) => {
    expect(gradeAnswer(generation, gold, "numeric")).toBe(isCorrectAnswer(generation, gold));
    expect(gradeAnswer(generation, gold, "numeric")).toBe(true);
  });

  it.each([
    ["So $\\boxed{(x+1)^2}$.", "x^2+2x+1", false, true],
    ["Final Answer: The final answer is $\\left(1,2\\right]$. I hope it is correct.", "(1, 2]", false, true],
    ["The solutions are \\boxed{\\{2, 1\\}}", "\\{1, 2\\}", false, true],
    ["\\boxed{\\frac{\\sqrt{3}}{2}}", "0.8660254", false, true],
    ["\\boxed{x = 3}", "3", true, true],
    ["\\boxed{(1, 2)}", "(2, 1)", false, false],
  ])("symbolic grades what numeric cannot: %s vs %s", (generation, gold, numeric, symbolic) => {
    expect(gradeAnswer(generation, gold, "numeric")).toBe(numeric);
    expect(gradeAnswer(generation, gold, "symbolic")).toBe(symbolic);
  });

  it("records the final answer each match reads", () => {
    expect(extractAnswer("So $\\boxed{(x+1)^2}$.", "symbolic")).toBe("(x+1)^2");
    expect(extractAnswer("So $\\boxed{(x+1)^2}$.", "numeric")).toBe("2");
  });
});
