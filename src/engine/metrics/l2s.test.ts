import { describe, expect, it } from "vitest";
import { accuracy, correctnessTable, meanGeneratedTokens, MismatchedQuestionsError, negativeTransfer, sourceExpertCount, type AnsweredQuestion } from "./l2s";

/** Results from a 0/1 string ("1001": questions 0 and 3 right), each question generating `tokens[i]` (default 10). */
function answers(bits: string, tokens: number[] = []): AnsweredQuestion[] {
  return [...bits].map((bit, index) => ({ index, correct: bit === "1", tokens: tokens[index] ?? 10 }));
}

describe("accuracy and mean generated tokens", () => {
  it("count right answers and average the tokens per question", () => {
    // 3 of 5 right; (4 + 8 + 15 + 16 + 23) / 5 = 66 / 5.
    const results = answers("10110", [4, 8, 15, 16, 23]);
    expect(accuracy(results)).toBe(3 / 5);
    expect(meanGeneratedTokens(results)).toBe(66 / 5);
  });

  it("are not measured on no questions", () => {
    expect(accuracy([])).toBeNull();
    expect(meanGeneratedTokens([])).toBeNull();
  });
});

describe("negative transfer (compute_NTR.py of the L2S project)", () => {
  it("is the share of questions some source got right that the merge gets wrong, and the same per source", () => {
    //            q: 0 1 2 3 4 5 6 7
    const first = "11001000"; // right on 0, 1, 4
    const second = "10100010"; // right on 0, 2, 6
    const merged = "10010110"; // right on 0, 3, 5, 6
    // Union of the sources: {0, 1, 2, 4, 6} (5 eligible); the merge is wrong on 1, 2, 4 of them: 3 / 5.
    // First alone: {0, 1, 4}, merge wrong on 1 and 4: 2 / 3. Second alone: {0, 2, 6}, merge wrong on 2: 1 / 3.
    const report = negativeTransfer(answers(merged), [
      { name: "first", results: answers(first) },
      { name: "second", results: answers(second) },
    ]);
    expect(report.union).toEqual({ rate: 3 / 5, negative: 3, eligible: 5, total: 8 });
    expect(report.perSource).toEqual([
      { rate: 2 / 3, negative: 2, eligible: 3, total: 8 },
      { rate: 1 / 3, negative: 1, eligible: 3, total: 8 },
    ]);
  });

  it("matches questions by index, not by position", () => {
    const merged = [
      { index: 7, correct: false, tokens: 1 },
      { index: 2, correct: true, tokens: 1 },
    ];
    const source = [
      { index: 2, correct: true, tokens: 1 },
      { index: 7, correct: true, tokens: 1 },
    ];
    // Both questions eligible; the merge lost question 7 only.
    expect(negativeTransfer(merged, [{ name: "expert", results: source }]).union).toEqual({ rate: 1 / 2, negative: 1, eligible: 2, total: 2 });
  });

  it("has no rate when no source answered anything right", () => {
    const report = negativeTransfer(answers("010"), [{ name: "a", results: answers("000") }]);
    expect(report.union).toEqual({ rate: null, negative: 0, eligible: 0, total: 3 });
  });

  it("refuses sources that answered other questions, naming the source", () => {
    const short = answers("10");
    expect(() => negativeTransfer(answers("101"), [{ name: "math", results: short }])).toThrow(MismatchedQuestionsError);
    expect(() => negativeTransfer(answers("101"), [{ name: "math", results: short }])).toThrow(/math answered 2 questions and the merge 3, question 2 not by both/);
    const twice = [...answers("1"), { index: 0, correct: false, tokens: 1 }];
    expect(() => negativeTransfer(answers("1"), [{ name: "ja", results: twice }])).toThrow("ja answers question 0 twice");
  });
});

describe("correctness table", () => {
  it("has one 0/1 row per model over the question indices, ascending", () => {
    const unordered = [
      { index: 3, correct: true, tokens: 1 },
      { index: 1, correct: false, tokens: 1 },
    ];
    const table = correctnessTable([
      { name: "a", results: unordered },
      { name: "b", results: [{ index: 1, correct: true, tokens: 1 }, { index: 3, correct: true, tokens: 1 }] },
    ]);
    expect(table).toEqual({
      questions: [1, 3],
      rows: [
        { name: "a", scores: [0, 1] },
        { name: "b", scores: [1, 1] },
      ],
    });
  });

  it("refuses models that answered other questions", () => {
    expect(() => correctnessTable([{ name: "a", results: answers("11") }, { name: "b", results: answers("111") }])).toThrow(/b answered 3 questions and a 2/);
  });
});

describe("source experts of a run", () => {
  it("are every starting candidate, or the first N of a pairs start", () => {
    expect(sourceExpertCount("experts", 8)).toBe(8);
    // 8 experts and their 28 pairs.
    expect(sourceExpertCount("pairs", 36)).toBe(8);
    expect(sourceExpertCount("pairs", 3)).toBe(2);
    expect(() => sourceExpertCount("pairs", 5)).toThrow("5 starting candidates are not N experts and their N(N−1)/2 pairs");
  });
});
