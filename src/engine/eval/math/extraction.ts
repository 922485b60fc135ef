/*
 * The final answer of a worked solution, as competition-math graders read it: the last \boxed{…} (MATH,
 * Qwen2.5-Math, math_verify), else the sentence "The final answer is …" (Minerva's format), else what follows
 * the last "####" (GSM8K) or "The answer is", else the last $…$ formula.
 */

/** The argument of the last `\boxed{…}` or `\fbox{…}` (nested braces kept), or of `\boxed 5`; undefined when none closes. */
export function lastBoxed(text: string): string | undefined {
  const starts = [...text.matchAll(/\\(?:boxed|fbox)\s*/g)];
  const last = starts.at(-1);
  if (!last) return undefined;
  const from = last.index + last[0].length;
  if (text[from] !== "{") {
    const bare = /^[^\s$.,;]+/.exec(text.slice(from));
    return bare?.[0];
  }
  let depth = 0;
  for (let index = from; index < text.length; index += 1) {
    const char = text[index];
    if (char === "\\") index += 1;
    else if (char === "{") depth += 1;
    else if (char === "}") {
      depth -= 1;
      if (depth === 0) return text.slice(from + 1, index).trim();
    }
  }
  return undefined;
}

/** Minerva: "Final Answer: The final answer is $x$. I hope it is correct." */
const finalAnswerSentence = /final\s+answer\s+is\s*[:：]?\s*(\$[^$]+\$|[^\n]+?)(?:\.?\s*I hope it is correct|\.?\s*$|\.\s)/gi;
const answerMarker = /(?:####|the\s+answer\s+is\s*[:：]?|answer\s*[:：])\s*(\$[^$]+\$|[^\n]+?)(?:\.?\s*$|\.\s|\n)/gi;

function stripTrailing(answer: string): string {
  return answer.trim().replace(/[.。]$/, "").trim().replace(/^\$+|\$+$/g, "").trim();
}

/** The final answer's text (LaTeX, unnormalised); undefined when the text gives none. */
export function extractMathAnswer(text: string): string | undefined {
  const boxed = lastBoxed(text);
  if (boxed !== undefined) return boxed;
  const sentence = [...text.matchAll(finalAnswerSentence)].at(-1);
  if (sentence) return stripTrailing(sentence[1]!);
  const marked = [...text.matchAll(answerMarker)].at(-1);
  if (marked) return stripTrailing(marked[1]!);
  const formula = [...text.matchAll(/\$([^$]+)\$/g)].at(-1);
  if (formula) return formula[1]!.trim();
  const number = [...text.matchAll(/-?\d+(?:[.,]\d+)*(?:\/\d+)?/g)].at(-1);
  return number?.[0];
}
