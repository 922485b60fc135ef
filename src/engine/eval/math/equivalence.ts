import { ComputeEngine } from "@cortex-js/compute-engine";
import { asFunction, DeadlineExceeded, evaluate, symbolOf, variablesOf, type Complex, type MathJson } from "./evaluation";
import { normalizeLatex } from "./normalization";

/*
 * Whether two final answers are the same mathematical object, as Qwen2.5-Math's `math_equal` and HF
 * math_verify decide it: the same number (exactly, or within NUMERIC_TOLERANCE), the same expression (x^2+2x+1 and
 * (x+1)^2), the same equation (y=2x+1 and 2x+1=y; "x = 3" answers "3"), the same interval (open and closed ends
 * differ), set (order free), tuple (order matters) or matrix. LaTeX is parsed by @cortex-js/compute-engine;
 * values are compared by evaluation at fixed points (a polynomial identity test) rather than by the engine's
 * simplifier, which leaves most identities undecided.
 */

/**
 * Numbers match when |a − b| ≤ relative · max(|a|, |b|), Qwen2.5-Math's `isclose(rel_tol=1e-4)` (so 6.2832
 * answers 2\pi), or when |a − b| ≤ absolute, for round-off around zero.
 */
export const NUMERIC_TOLERANCE = { relative: 1e-4, absolute: 1e-9 } as const;

/** Qwen2.5-Math gives sympy one second per comparison; so does this. */
export const COMPARISON_TIME_LIMIT_MS = 1000;

/*
 * The engine parses synchronously and cannot be interrupted, at up to two milliseconds per character on a busy
 * CPU (300 characters of powers took 0.54 s with 2 cores at load 17): answers longer or more deeply nested than
 * competition answers are refused before parsing, so that both parses fit in the time limit; evaluation then
 * checks the deadline at every node.
 */
export const MAX_ANSWER_LENGTH = 200;
export const MAX_NESTING = 12;

type Answer =
  | { kind: "scalar"; latex: string }
  | { kind: "sequence"; open: string; close: string; items: Answer[] }
  | { kind: "set"; items: Answer[] }
  | { kind: "union"; items: Answer[] }
  | { kind: "matrix"; rows: Answer[][] };

let engine: ComputeEngine | undefined;
const computeEngine = () => (engine ??= new ComputeEngine());

const opening = new Set(["(", "[", "{"]);
const closing = new Set([")", "]", "}"]);

function nestingDepth(latex: string): number {
  let depth = 0;
  let deepest = 0;
  for (const char of latex) {
    if (opening.has(char)) deepest = Math.max(deepest, ++depth);
    else if (closing.has(char)) depth -= 1;
  }
  return deepest;
}

/** `latex` cut at each top-level `separator` (outside any bracket); `\{`, `\}` count as brackets. */
function splitTopLevel(latex: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let index = 0; index < latex.length; index += 1) {
    const char = latex[index]!;
    if (opening.has(char)) depth += 1;
    else if (closing.has(char)) depth -= 1;
    else if (depth === 0 && latex.startsWith(separator, index)) {
      parts.push(latex.slice(start, index));
      start = index + separator.length;
      index += separator.length - 1;
    }
  }
  parts.push(latex.slice(start));
  return parts.map((part) => part.trim());
}

/** Whether the first character's bracket closes at the last character (so "(1,2)" but not "(1)+(2)"). */
function enclosedWhole(latex: string): boolean {
  let depth = 0;
  for (let index = 0; index < latex.length; index += 1) {
    const char = latex[index]!;
    if (opening.has(char)) depth += 1;
    else if (closing.has(char)) depth -= 1;
    if (depth === 0 && index < latex.length - 1) return false;
  }
  return depth === 0;
}

const matrixPattern = /^\\begin\{([pbvBV]?matrix|array)\}(?:\{[^{}]*\})?([\s\S]*)\\end\{\1\}$/;

/** The answer's structure, down to the scalars the engine parses. */
function structureOf(latex: string): Answer {
  // "2 or 3", "x = 1 and y = 2": the values, as a set (as Qwen2.5-Math and math_verify read them).
  const alternatives = splitTopLevel(latex, " or ").flatMap((part) => splitTopLevel(part, " and "));
  if (alternatives.length > 1) return { kind: "set", items: alternatives.map(structureOf) };
  const union = splitTopLevel(latex, "\\cup");
  if (union.length > 1) return { kind: "union", items: union.map(structureOf) };
  const matrix = matrixPattern.exec(latex);
  if (matrix) {
    const rows = splitTopLevel(matrix[2]!, "\\\\").filter((row) => row !== "");
    return { kind: "matrix", rows: rows.map((row) => splitTopLevel(row, "&").map(structureOf)) };
  }
  if (/^\\(?:emptyset|varnothing)$|^\\\{\s*\\\}$/.test(latex)) return { kind: "set", items: [] };
  if (latex.startsWith("\\{") && latex.endsWith("\\}")) {
    return { kind: "set", items: splitTopLevel(latex.slice(2, -2), ",").map(structureOf) };
  }
  if (/^[([]/.test(latex) && /[)\]]$/.test(latex) && enclosedWhole(latex)) {
    const items = splitTopLevel(latex.slice(1, -1), ",");
    if (items.length > 1) return { kind: "sequence", open: latex[0]!, close: latex.at(-1)!, items: items.map(structureOf) };
  }
  const listed = splitTopLevel(latex, ",");
  // "1, 2" lists the solutions, in no particular order (MATH's "enter all the solutions, separated by commas").
  if (listed.length > 1) return { kind: "set", items: listed.map(structureOf) };
  const plusMinus = latex.split("\\pm");
  if (plusMinus.length === 2) return { kind: "set", items: [`${plusMinus[0]}+${plusMinus[1]}`, `${plusMinus[0]}-${plusMinus[1]}`].map(structureOf) };
  return { kind: "scalar", latex };
}

interface Comparison {
  deadline: number;
  percent: boolean;
}

function containsError(expression: MathJson): boolean {
  const call = asFunction(expression);
  if (!call) return false;
  return call[0] === "Error" || call[1].some(containsError);
}

function parse(latex: string, comparison: Comparison): MathJson | undefined {
  if (performance.now() > comparison.deadline) throw new DeadlineExceeded("the comparison ran past its time limit");
  try {
    const json = computeEngine().parse(latex).json as MathJson;
    return containsError(json) ? undefined : json;
  } catch {
    return undefined;
  }
}

/** Whether two values are the same number. An infinite value is unknown (1/0, 2/0), so equal to nothing. */
function close(a: Complex, b: Complex): boolean {
  if (![a.re, a.im, b.re, b.im].every(Number.isFinite)) return false;
  const difference = Math.hypot(a.re - b.re, a.im - b.im);
  return difference <= NUMERIC_TOLERANCE.absolute || difference <= NUMERIC_TOLERANCE.relative * Math.max(Math.hypot(a.re, a.im), Math.hypot(b.re, b.im));
}

const scaled = (z: Complex, factor: number): Complex => ({ re: z.re * factor, im: z.im * factor });
const isNaNValue = (z: Complex) => Number.isNaN(z.re) || Number.isNaN(z.im);
const magnitude = (z: Complex) => Math.hypot(z.re, z.im);

/** Points at which two expressions in the same variables are compared: irrational, so no denominator vanishes by design. */
const SAMPLE_POINTS = [0.5772156649, 1.4142135624, 2.7182818285, 0.3183098862, 1.6180339887, -0.8414709848];
const MIN_DEFINED_POINTS = 3;

function pointValues(variables: readonly string[], point: number): Map<string, number> {
  // Each variable gets another value, so x^2 and y^2 differ.
  return new Map(variables.map((name, index) => [name, SAMPLE_POINTS[(point + index) % SAMPLE_POINTS.length]! + index * 0.1234]));
}

/** The two expressions' values at the sample points where both are real (all of them without variables). */
function sampled(a: MathJson, b: MathJson, comparison: Comparison): Array<[Complex, Complex]> {
  const variables = [...variablesOf(b, variablesOf(a))].sort();
  const points = variables.length === 0 ? [0] : SAMPLE_POINTS.map((_, point) => point);
  const pairs: Array<[Complex, Complex]> = [];
  for (const point of points) {
    const values = pointValues(variables, point);
    const pair: [Complex, Complex] = [evaluate(a, values, comparison.deadline), evaluate(b, values, comparison.deadline)];
    if (!isNaNValue(pair[0]) && !isNaNValue(pair[1])) pairs.push(pair);
  }
  return variables.length === 0 || pairs.length >= MIN_DEFINED_POINTS ? pairs : [];
}

function sameExpression(a: MathJson, b: MathJson, comparison: Comparison): boolean {
  // The engine parses \frac{1}{0} and \frac{2}{0} alike, as NaN: only answers written alike are the same unknown.
  if (JSON.stringify(a) === JSON.stringify(b) && !JSON.stringify(a).includes('"NaN"')) return true;
  const pairs = sampled(a, b, comparison);
  if (pairs.length === 0) return false;
  if (pairs.every(([x, y]) => close(x, y))) return true;
  // A percentage may be given as its fraction or its number of percent (Qwen2.5-Math's include_percentage).
  const [[x, y]] = pairs as [[Complex, Complex]];
  return comparison.percent && pairs.length === 1 && (close(x, scaled(y, 1 / 100)) || close(x, scaled(y, 100)));
}

const relations: Record<string, { as: string; swap: boolean }> = {
  Equal: { as: "Equal", swap: false },
  NotEqual: { as: "NotEqual", swap: false },
  Less: { as: "Less", swap: false },
  LessEqual: { as: "LessEqual", swap: false },
  Greater: { as: "Less", swap: true },
  GreaterEqual: { as: "LessEqual", swap: true },
};

/** A relation as its kind and (left − right): 3 ≥ x is x ≤ 3, x − 3 ≤ 0. */
function relationOf(expression: MathJson): { kind: string; left: MathJson; right: MathJson } | undefined {
  const call = asFunction(expression);
  const relation = call && relations[call[0]];
  if (!call || !relation || call[1].length !== 2) return undefined;
  const [left, right] = relation.swap ? [call[1][1]!, call[1][0]!] : [call[1][0]!, call[1][1]!];
  return { kind: relation.as, left, right };
}

/** Two relations hold for the same values: their (left − right) are proportional, by a positive factor for inequalities. */
function sameRelation(a: NonNullable<ReturnType<typeof relationOf>>, b: NonNullable<ReturnType<typeof relationOf>>, comparison: Comparison): boolean {
  if (a.kind !== b.kind) return false;
  const pairs = sampled(["Subtract", a.left, a.right], ["Subtract", b.left, b.right], comparison);
  if (pairs.length === 0) return false;
  const nonZero = pairs.filter(([x, y]) => magnitude(x) > NUMERIC_TOLERANCE.absolute || magnitude(y) > NUMERIC_TOLERANCE.absolute);
  if (nonZero.length === 0) return true;
  const [first, second] = nonZero[0]!;
  if (!isReal(first) || !isReal(second)) return false;
  const ratio = first.re / second.re;
  const symmetric = a.kind === "Equal" || a.kind === "NotEqual";
  if (!Number.isFinite(ratio) || ratio === 0 || (!symmetric && ratio < 0)) return false;
  return nonZero.every(([x, y]) => close(x, scaled(y, ratio)));
}

const isReal = (z: Complex) => z.im === 0;

/** "x = 3" as an answer means 3: the value of an equation whose one side is a lone variable. */
function valueOfAssignment(relation: ReturnType<typeof relationOf>): MathJson | undefined {
  if (!relation || relation.kind !== "Equal") return undefined;
  if (symbolOf(relation.left) !== undefined && variablesOf(relation.left).size === 1) return relation.right;
  if (symbolOf(relation.right) !== undefined && variablesOf(relation.right).size === 1) return relation.left;
  return undefined;
}

const textPattern = /\\text\{([^{}]*)\}/g;
/** An answer in words as the text graders compare: without its `\text{}`, spacing and case. */
const wordsOf = (latex: string) => latex.replace(textPattern, " $1 ").replace(/\s+/g, " ").trim().toLowerCase();

function sameScalar(a: string, b: string, comparison: Comparison): boolean {
  // Case is meaning in mathematics (B and b, \Pi and \pi); words are compared as text, case aside.
  if (a.replace(/\s+/g, "") === b.replace(/\s+/g, "")) return true;
  if (a.includes("\\text{") || b.includes("\\text{")) return wordsOf(a) === wordsOf(b);
  const left = parse(a, comparison);
  const right = parse(b, comparison);
  if (left === undefined || right === undefined) return false;
  const leftRelation = relationOf(left);
  const rightRelation = relationOf(right);
  if (leftRelation && rightRelation) return sameRelation(leftRelation, rightRelation, comparison);
  if (leftRelation || rightRelation) {
    const leftValue = leftRelation ? valueOfAssignment(leftRelation) : left;
    const rightValue = rightRelation ? valueOfAssignment(rightRelation) : right;
    return leftValue !== undefined && rightValue !== undefined && sameExpression(leftValue, rightValue, comparison);
  }
  return sameExpression(left, right, comparison);
}

/** Whether every item of `a` pairs with its own item of `b` (sizes equal, order free). */
function sameUnordered(a: Answer[], b: Answer[], comparison: Comparison): boolean {
  if (a.length !== b.length) return false;
  const unused = [...b];
  for (const item of a) {
    const match = unused.findIndex((candidate) => same(item, candidate, comparison));
    if (match < 0) return false;
    unused.splice(match, 1);
  }
  return true;
}

function same(a: Answer, b: Answer, comparison: Comparison): boolean {
  if (a.kind === "scalar" && b.kind === "scalar") return sameScalar(a.latex, b.latex, comparison);
  if (a.kind === "sequence" && b.kind === "sequence") {
    return a.open === b.open && a.close === b.close && a.items.length === b.items.length && a.items.every((item, index) => same(item, b.items[index]!, comparison));
  }
  if ((a.kind === "set" && b.kind === "set") || (a.kind === "union" && b.kind === "union")) return sameUnordered(a.items, b.items, comparison);
  if (a.kind === "matrix" && b.kind === "matrix") {
    return a.rows.length === b.rows.length && a.rows.every((row, r) => row.length === b.rows[r]!.length && row.every((cell, c) => same(cell, b.rows[r]![c]!, comparison)));
  }
  // A one-element set answers its element ("\{3\}" and "3").
  if (a.kind === "set" && a.items.length === 1) return same(a.items[0]!, b, comparison);
  if (b.kind === "set" && b.items.length === 1) return same(a, b.items[0]!, comparison);
  return false;
}

/**
 * Whether `predicted` (a final answer, as extracted) is equivalent to `gold`. Never throws and never takes much
 * longer than `timeLimitMs`: past it, or for answers too long or too deeply nested to parse in time, the verdict
 * is "not equivalent".
 */
export function areEquivalent(predicted: string, gold: string, timeLimitMs = COMPARISON_TIME_LIMIT_MS): boolean {
  const left = normalizeLatex(predicted);
  const right = normalizeLatex(gold);
  if (left.latex === "" || right.latex === "") return false;
  if (left.latex === right.latex) return true;
  for (const { latex } of [left, right]) {
    if (latex.length > MAX_ANSWER_LENGTH || nestingDepth(latex) > MAX_NESTING) return false;
  }
  const comparison = { deadline: performance.now() + timeLimitMs, percent: left.percent || right.percent };
  try {
    return same(structureOf(left.latex), structureOf(right.latex), comparison);
  } catch (error) {
    if (error instanceof DeadlineExceeded) return false;
    throw error;
  }
}
