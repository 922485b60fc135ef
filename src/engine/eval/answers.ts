/*
 * Math-grade answer matching. A generation's final answer is, in order of preference: the last \boxed{…};
 * the first number after the last answer marker ("The answer is", "Answer:", "####", "答え", "答えは…");
 * the last number in the text. Numbers are compared by value, so "1,000", "１０００", "1000.0" and "2000/2"
 * all equal 1000. With symbolic matching (competition math), the final answer is compared as LaTeX
 * mathematics instead: see ./math/equivalence.
 */

import { areEquivalent } from "./math/equivalence";
import { extractMathAnswer } from "./math/extraction";

export type NumericValue = { numerator: bigint; denominator: bigint };

const kanjiDigits: Record<string, number> = { 〇: 0, 零: 0, 一: 1, 二: 2, 三: 3, 四: 4, 五: 5, 六: 6, 七: 7, 八: 8, 九: 9 };
const kanjiSmallUnits: Record<string, number> = { 十: 10, 百: 100, 千: 1000 };
const kanjiLargeUnits: Record<string, number> = { 万: 10_000, 億: 100_000_000 };

/**
 * Full-width digits and punctuation become ASCII (NFKC), and the typographic minus signs become "-", so one
 * grammar reads every form.
 */
export function normalizeAnswerText(text: string): string {
  return text.normalize("NFKC").replace(/[\u2212\u2012\u2013\uFE63]/g, "-");
}

// A number may follow a letter of any script: Japanese and Chinese write it right after a word ("合計は35個"),
// as Korean, Thai and others do. A minus counts only where it cannot be a range or subtraction dash ("3-5" and
// "x-5" are not "-5").
const numberPattern = /(?:(?<![\p{L}\p{N}.])-)?(?<![\p{N}.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*\/\s*\d+(?:\.\d+)?)?(?!\d)/gu;
const kanjiNumberPattern = /[〇零一二三四五六七八九十百千万億]+/gu;
const answerMarkers = /(?:the\s+(?:final\s+)?answer\s+is|answer\s*[:：]|####|答え\s*[はが:]?|解答\s*[:は]?)/giu;

function lastBoxed(text: string): string | undefined {
  const start = text.lastIndexOf("\\boxed{");
  if (start < 0) return undefined;
  let depth = 0;
  for (let index = start + "\\boxed".length; index < text.length; index += 1) {
    const char = text[index];
    if (char === "{") depth += 1;
    else if (char === "}") {
      depth -= 1;
      if (depth === 0) return text.slice(start + "\\boxed{".length, index);
    }
  }
  return undefined;
}

function latexToPlain(expression: string): string {
  return expression
    .replace(/\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}/g, "($1)/($2)")
    .replace(/\\(?:left|right|,|!|;|\s)/g, "")
    .replace(/\\text\{[^{}]*\}/g, "")
    .replace(/[{}$]/g, "")
    .replace(/\(\s*(-?[\d.,]+)\s*\)\s*\/\s*\(\s*([\d.,]+)\s*\)/g, "$1/$2");
}

function parseKanjiNumber(text: string): number | undefined {
  let total = 0;
  let section = 0;
  let digit: number | undefined;
  for (const char of text) {
    if (char in kanjiDigits) {
      digit = (digit ?? 0) * 10 + kanjiDigits[char]!;
    } else if (char in kanjiSmallUnits) {
      section += (digit ?? 1) * kanjiSmallUnits[char]!;
      digit = undefined;
    } else if (char in kanjiLargeUnits) {
      total += (section + (digit ?? 0) || 1) * kanjiLargeUnits[char]!;
      section = 0;
      digit = undefined;
    } else return undefined;
  }
  return total + section + (digit ?? 0);
}

function decimalToRational(literal: string): NumericValue {
  const negative = literal.startsWith("-");
  const [whole, fraction = ""] = literal.replace(/^-/, "").replaceAll(",", "").split(".");
  const denominator = 10n ** BigInt(fraction.length);
  const numerator = BigInt(`${whole}${fraction}` || "0");
  return { numerator: negative ? -numerator : numerator, denominator };
}

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y) [x, y] = [y, x % y];
  return x || 1n;
}

function reduce({ numerator, denominator }: NumericValue): NumericValue {
  const sign = denominator < 0n ? -1n : 1n;
  const divisor = gcd(numerator, denominator);
  return { numerator: (sign * numerator) / divisor, denominator: (sign * denominator) / divisor };
}

/** "1,234.5", "-3/4", "2.5/0.5" as an exact rational; undefined for anything else (or a zero denominator). */
export function parseNumber(literal: string): NumericValue | undefined {
  const cleaned = normalizeAnswerText(literal).trim().replace(/\s+/g, "");
  const match = /^(-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)(?:\/((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?))?$/.exec(cleaned);
  if (!match) {
    const kanji = parseKanjiNumber(cleaned);
    return kanji === undefined ? undefined : { numerator: BigInt(kanji), denominator: 1n };
  }
  const top = decimalToRational(match[1]!);
  if (!match[2]) return reduce(top);
  const bottom = decimalToRational(match[2]);
  if (bottom.numerator === 0n) return undefined;
  return reduce({ numerator: top.numerator * bottom.denominator, denominator: top.denominator * bottom.numerator });
}

/** Arabic numbers in order; kanji numerals only where there are none (they also occur inside words: 一緒). */
function numbersIn(text: string): string[] {
  const arabic = [...text.matchAll(numberPattern)].map((match) => match[0].replace(/\s+/g, ""));
  if (arabic.length > 0) return arabic;
  return [...text.matchAll(kanjiNumberPattern)].map((match) => match[0]).filter((literal) => parseKanjiNumber(literal) !== undefined);
}

/** The literal a grader should compare, or undefined when the text holds no number. */
export function extractNumericAnswer(text: string): string | undefined {
  const normalized = normalizeAnswerText(text);
  const boxed = lastBoxed(normalized);
  if (boxed !== undefined) {
    const inside = numbersIn(latexToPlain(boxed));
    if (inside.length > 0) return inside.at(-1);
  }
  const markers = [...normalized.matchAll(answerMarkers)];
  const lastMarker = markers.at(-1);
  if (lastMarker) {
    const after = numbersIn(normalized.slice(lastMarker.index + lastMarker[0].length));
    if (after.length > 0) return after[0];
  }
  return numbersIn(normalized).at(-1);
}

export function sameNumber(a: NumericValue, b: NumericValue): boolean {
  return a.numerator * b.denominator === b.numerator * a.denominator;
}

/**
 * Whether a generation answers `gold`. Numeric golds compare by exact rational value; other golds (e.g.
 * "Yes") compare case-insensitively with the text after the last answer marker, or the whole text.
 */
export function isCorrectAnswer(generation: string, gold: string): boolean {
  const goldValue = parseNumber(gold);
  if (goldValue) {
    const predicted = extractNumericAnswer(generation);
    const predictedValue = predicted === undefined ? undefined : parseNumber(predicted);
    return predictedValue !== undefined && sameNumber(predictedValue, goldValue);
  }
  const normalized = normalizeAnswerText(generation);
  const lastMarker = [...normalized.matchAll(answerMarkers)].at(-1);
  const answerPart = lastMarker ? normalized.slice(lastMarker.index + lastMarker[0].length) : normalized;
  const firstWord = answerPart.trim().split(/[\s.,。、!！?？]/u)[0] ?? "";
  return firstWord.toLowerCase() === normalizeAnswerText(gold).trim().toLowerCase();
}

/**
 * The option letter a generation chooses: "(B)", "B.", "The answer is B", "答えはB". Undefined when it names
 * none of `labels` or more than one without an answer marker.
 */
export function extractChoiceLetter(generation: string, labels: readonly string[]): string | undefined {
  const normalized = normalizeAnswerText(generation);
  const alternatives = labels.map((label) => label.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|");
  // Latin neighbours make a word ("Apples"); Japanese ones do not ("答えはDです").
  const letter = new RegExp(`(?<![A-Za-z0-9])(${alternatives})(?![A-Za-z0-9])`, "gu");
  const lastMarker = [...normalized.matchAll(answerMarkers)].at(-1);
  if (lastMarker) {
    const after = [...normalized.slice(lastMarker.index + lastMarker[0].length).matchAll(letter)];
    if (after.length > 0) return after[0]![1];
  }
  const found = new Set([...normalized.matchAll(letter)].map((match) => match[1]));
  return found.size === 1 ? [...found][0] : undefined;
}

const japaneseScript = /[\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Han}ー]/u;
const anyLetter = /\p{L}/u;

/**
 * Whether a response is written in Japanese: at least one Japanese character, and Japanese characters make
 * up at least half of its letters (digits, punctuation and spaces do not count).
 */
export function isJapanese(text: string): boolean {
  let japanese = 0;
  let letters = 0;
  for (const char of text.normalize("NFKC")) {
    if (!anyLetter.test(char)) continue;
    letters += 1;
    if (japaneseScript.test(char)) japanese += 1;
  }
  return japanese > 0 && japanese * 2 >= letters;
}

/** How a final answer is compared with the gold one: numeric for GSM8K-like data, symbolic for MATH-like data. */
export const ANSWER_MATCHES = ["numeric", "symbolic"] as const;
export type AnswerMatch = (typeof ANSWER_MATCHES)[number];

/** The final answer a grader reads from a generation under `match`. */
export function extractAnswer(generation: string, match: AnswerMatch): string | undefined {
  return match === "symbolic" ? extractMathAnswer(generation) : extractNumericAnswer(generation);
}

/** Whether a generation answers `gold` under `match`. */
export function gradeAnswer(generation: string, gold: string, match: AnswerMatch): boolean {
  if (match === "numeric") return isCorrectAnswer(generation, gold);
  const predicted = extractMathAnswer(generation);
  return predicted !== undefined && areEquivalent(predicted, gold);
}
