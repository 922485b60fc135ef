/*
 * A floating-point evaluator of the compute engine's MathJSON, for the heads answers use. The engine's own N()
 * works in arbitrary precision and will try to expand 10^{10^{10}} or sum a billion terms; this one costs one
 * step per node (a huge power overflows to "unknown", a sum is not evaluated), so a comparison's time is bounded by the
 * size of the parsed answer.
 */

export type MathJson = number | string | { num: string } | { sym: string } | { str: string } | { fn: MathJson[] } | MathJson[];

/** Thrown when a comparison runs past its deadline. */
export class DeadlineExceeded extends Error {
  override name = "DeadlineExceeded";
}

const constants: Record<string, number> = {
  Pi: Math.PI,
  ExponentialE: Math.E,
  PositiveInfinity: Number.POSITIVE_INFINITY,
  NegativeInfinity: Number.NEGATIVE_INFINITY,
  ComplexInfinity: Number.NaN,
  NaN: Number.NaN,
  Half: 0.5,
};

/** A symbol the answer names (a variable), as opposed to a constant. */
export function isVariable(symbol: string): boolean {
  return !(symbol in constants) && symbol !== "ImaginaryUnit" && /^[A-Za-z][A-Za-z0-9_]*$/.test(symbol);
}

/** The head and arguments of a function expression; undefined for a number or symbol. */
export function asFunction(expression: MathJson): [string, MathJson[]] | undefined {
  const list = Array.isArray(expression) ? expression : typeof expression === "object" && "fn" in expression ? expression.fn : undefined;
  if (!list || typeof list[0] !== "string") return undefined;
  return [list[0], list.slice(1)];
}

export function symbolOf(expression: MathJson): string | undefined {
  if (typeof expression === "string") return expression;
  if (typeof expression === "object" && !Array.isArray(expression) && "sym" in expression) return expression.sym;
  return undefined;
}

/** Every variable the expression names. */
export function variablesOf(expression: MathJson, into = new Set<string>()): Set<string> {
  const symbol = symbolOf(expression);
  if (symbol !== undefined) {
    if (isVariable(symbol)) into.add(symbol);
    return into;
  }
  const call = asFunction(expression);
  if (call) for (const argument of call[1]) variablesOf(argument, into);
  return into;
}

/** A complex value; answers are mostly real (im 0), but MATH has answers such as 3+2i. */
export interface Complex {
  re: number;
  im: number;
}

const real = (re: number): Complex => ({ re, im: 0 });
const NOT_A_NUMBER = real(Number.NaN);
const isReal = (z: Complex) => z.im === 0;

const add = (a: Complex, b: Complex): Complex => ({ re: a.re + b.re, im: a.im + b.im });
const multiply = (a: Complex, b: Complex): Complex =>
  isReal(a) && isReal(b) ? real(a.re * b.re) : { re: a.re * b.re - a.im * b.im, im: a.re * b.im + a.im * b.re };
function divide(a: Complex, b: Complex): Complex {
  if (isReal(a) && isReal(b)) return real(a.re / b.re);
  const scale = b.re * b.re + b.im * b.im;
  return { re: (a.re * b.re + a.im * b.im) / scale, im: (a.im * b.re - a.re * b.im) / scale };
}
const exp = (z: Complex): Complex => (isReal(z) ? real(Math.exp(z.re)) : { re: Math.exp(z.re) * Math.cos(z.im), im: Math.exp(z.re) * Math.sin(z.im) });
/** The principal logarithm: ln(−1) = iπ. */
const log = (z: Complex): Complex => (isReal(z) && z.re >= 0 ? real(Math.log(z.re)) : { re: Math.log(Math.hypot(z.re, z.im)), im: Math.atan2(z.im, z.re) });

/** A power that keeps odd roots of negatives real: (-8)^{1/3} = -2, as an answer means. */
function power(base: Complex, exponent: Complex): Complex {
  if (isReal(base) && isReal(exponent)) {
    const [b, e] = [base.re, exponent.re];
    if (b >= 0 || Number.isInteger(e)) return real(Math.pow(b, e));
    const root = Math.round(1 / e);
    if (Math.abs(1 / e - root) < 1e-12 && root % 2 !== 0) return real(-Math.pow(-b, e));
  }
  if (base.re === 0 && base.im === 0) return real(0);
  return exp(multiply(exponent, log(base)));
}

function factorial(n: number): number {
  if (!Number.isInteger(n) || n < 0) return Number.NaN;
  if (n > 170) return Number.POSITIVE_INFINITY;
  let product = 1;
  for (let k = 2; k <= n; k += 1) product *= k;
  return product;
}

const realFunctions: Record<string, (x: number) => number> = {
  Abs: Math.abs,
  Floor: Math.floor,
  Ceil: Math.ceil,
  Sin: Math.sin,
  Cos: Math.cos,
  Tan: Math.tan,
  Cot: (x) => 1 / Math.tan(x),
  Sec: (x) => 1 / Math.cos(x),
  Csc: (x) => 1 / Math.sin(x),
  Arcsin: Math.asin,
  Arccos: Math.acos,
  Arctan: Math.atan,
  Sinh: Math.sinh,
  Cosh: Math.cosh,
  Tanh: Math.tanh,
  Factorial: factorial,
  Degrees: (x) => (x * Math.PI) / 180,
};

const complexFunctions: Record<string, (z: Complex) => Complex> = {
  Negate: (z) => ({ re: -z.re, im: -z.im }),
  Sqrt: (z) => power(z, real(0.5)),
  Square: (z) => multiply(z, z),
  Exp: exp,
  Ln: log,
  Lb: (z) => divide(log(z), real(Math.LN2)),
  Lg: (z) => divide(log(z), real(Math.LN10)),
};

/**
 * The value of `expression` with `values` for its variables: NaN when it holds something this evaluator does
 * not compute (a sum, an integral, a string, a real function of a complex number). Throws DeadlineExceeded past
 * `deadline` (performance.now() milliseconds).
 */
export function evaluate(expression: MathJson, values: ReadonlyMap<string, number>, deadline: number): Complex {
  // A value that overflows is unknown, not infinite: else 10^{10^{10}} would equal 10^{10^{11}}.
  const overflow = !JSON.stringify(expression).includes("Infinity");
  return evaluateNode(expression, values, deadline, overflow);
}

function evaluateNode(expression: MathJson, values: ReadonlyMap<string, number>, deadline: number, overflowIsUnknown: boolean): Complex {
  const result = evaluateOnce(expression, values, deadline, overflowIsUnknown);
  return overflowIsUnknown && !(Number.isFinite(result.re) && Number.isFinite(result.im)) ? NOT_A_NUMBER : result;
}

function evaluateOnce(expression: MathJson, values: ReadonlyMap<string, number>, deadline: number, overflowIsUnknown: boolean): Complex {
  if (performance.now() > deadline) throw new DeadlineExceeded("the comparison ran past its time limit");
  if (typeof expression === "number") return real(expression);
  if (typeof expression === "object" && !Array.isArray(expression) && "num" in expression) {
    // A repeating decimal is written 0.(3).
    return real(Number.parseFloat(expression.num.replace(/\((\d+)\)$/, (_, digits: string) => digits.repeat(Math.ceil(20 / digits.length)))));
  }
  const symbol = symbolOf(expression);
  if (symbol !== undefined) {
    if (symbol === "ImaginaryUnit") return { re: 0, im: 1 };
    return real(constants[symbol] ?? values.get(symbol) ?? Number.NaN);
  }
  const call = asFunction(expression);
  if (!call) return NOT_A_NUMBER;
  const [head, args] = call;
  const value = (index: number) => evaluateNode(args[index]!, values, deadline, overflowIsUnknown);
  const all = () => args.map((argument) => evaluateNode(argument, values, deadline, overflowIsUnknown));
  switch (head) {
    case "Complex":
      return { re: value(0).re, im: value(1).re };
    case "Add":
      return all().reduce(add, real(0));
    case "Subtract":
      return args.length === 1 ? complexFunctions.Negate!(value(0)) : add(value(0), complexFunctions.Negate!(value(1)));
    case "Multiply":
    case "InvisibleOperator":
      return all().reduce(multiply, real(1));
    case "Divide":
    case "Rational":
      return args.length === 1 ? value(0) : divide(value(0), value(1));
    case "Power":
      return power(value(0), value(1));
    case "Root":
      return power(value(0), divide(real(1), value(1)));
    case "Log":
      return args.length === 1 ? complexFunctions.Lg!(value(0)) : divide(log(value(0)), log(value(1)));
    case "Delimiter":
      return args.length === 1 ? value(0) : NOT_A_NUMBER;
    default: {
      if (args.length !== 1) return NOT_A_NUMBER;
      const complexFunction = complexFunctions[head];
      if (complexFunction) return complexFunction(value(0));
      const realFunction = realFunctions[head];
      const argument = value(0);
      return realFunction && isReal(argument) ? real(realFunction(argument.re)) : NOT_A_NUMBER;
    }
  }
}
