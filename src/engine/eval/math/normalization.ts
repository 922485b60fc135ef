/*
 * LaTeX clean-up before an answer is parsed: what graders (Hendrycks' MATH `strip_string`, Qwen2.5-Math's
 * `strip_string`, math_verify's normalisation) treat as presentation rather than value.
 */

export interface NormalizedAnswer {
  /** The answer's LaTeX without presentation: spacing, \left/\right, wrappers (words stay in `\text{}`), units, degrees, percent. */
  latex: string;
  /** Whether it was written as a percentage: then x, x/100 and x·100 all count (Qwen2.5-Math's include_percentage). */
  percent: boolean;
}

const unitWords = [
  "square", "sq", "cubic", "units?", "degrees?", "radians?",
  "mm", "cm", "m", "km", "meters?", "metres?", "inch(?:es)?", "in", "feet", "foot", "ft", "yards?", "yd", "miles?", "mi",
  "mg", "g", "kg", "grams?", "kilograms?", "pounds?", "lbs?", "ounces?", "oz", "liters?", "litres?", "ml", "gallons?",
  "seconds?", "sec", "s", "minutes?", "min", "hours?", "hrs?", "h", "days?", "weeks?", "months?", "years?",
  "dollars?", "cents?", "mph", "km/h", "m/s", "percent", "points?", "people", "students?", "ways", "times",
];
const unitPattern = new RegExp(`(?<=[\\d})])\\s+(?:(?:${unitWords.join("|")})(?:\\^\\{?[23]\\}?)?\\s*)+$`, "i");
const unitOnly = new RegExp(`^(?:(?:${unitWords.join("|")})(?:\\^\\{?[23]\\}?)?\\s*)+$`, "i");

/**
 * `\text{…}` and its kin. Words stay words: a wrapper holding a word of two or more letters becomes
 * `\text{words}`, compared as text, since unwrapped "dog" would be the product d·o·g and so equal "god". Units,
 * the connectives "or" / "and", and what holds no word (`\text{(C)}`, `\mathrm{5}`) are unwrapped, with a space
 * before them so that `5\text{cm}` reads as a number and a unit rather than 5·c·m.
 */
const wrapperCommands = /\\(?:text|textbf|textit|textrm|mathrm|mathbf|mathit|mbox|hbox|boldsymbol|mathsf|textnormal)\s*\{([^{}]*)\}/g;
/** Where kept words begin and end while the wrappers are unwrapped (private-use characters, so no answer holds them). */
const [WORDS_START, WORDS_END] = ["\uE000", "\uE001"];

function unwrapped(content: string): string {
  const words = content.trim();
  if (/^(?:or|and)$/.test(words)) return ` ${words} `;
  if (!/[A-Za-z]{2}/.test(words) || unitOnly.test(words)) return ` ${content}`;
  return ` ${WORDS_START}${words.replace(/\s+/g, " ")}${WORDS_END}`;
}

/** The value of an answer as LaTeX, without what only changes how it looks. */
export function normalizeLatex(answer: string): NormalizedAnswer {
  let latex = answer.normalize("NFKC").replace(/[\u2212\u2012\u2013\uFE63]/g, "-").trim();
  latex = latex.replace(/^\$+|\$+$/g, "").replace(/^\\\(|\\\)$/g, "").replace(/^\\\[|\\\]$/g, "");
  latex = latex.replace(/\\(?:displaystyle|textstyle|scriptstyle)/g, "");
  // Spacing commands and the thin space of "1\,000"; `\ ` is a space, but `\\ ` ends a matrix row.
  latex = latex.replace(/(?<!\\)\\[,;:!> ]|\\q?quad|~/g, " ");
  latex = latex.replace(/\{,\}/g, "");
  latex = latex.replace(/\\left\s*\.|\\right\s*\./g, "").replace(/\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![a-zA-Z])/g, "");
  latex = latex.replace(/\\[dt]frac/g, "\\frac");
  latex = latex.replace(/\\\$/g, "");
  // Degrees: 30^\circ, 30^{\circ}, 30°, \degree.
  latex = latex.replace(/\^\s*\{?\s*\\circ\s*\}?|°|\\degree/g, "");
  let percent = false;
  latex = latex.replace(/\\?%|\\percent/g, () => {
    percent = true;
    return "";
  });
  for (let previous = ""; previous !== latex; ) {
    previous = latex;
    latex = latex.replace(wrapperCommands, (_, content: string) => unwrapped(content));
  }
  latex = latex.replace(unitPattern, "");
  latex = latex.replace(new RegExp(`${WORDS_START}([^${WORDS_END}]*)${WORDS_END}`, "g"), "\\text{$1}");
  // "x \in (2, \infty)" answers with the set: the set is the answer.
  latex = latex.replace(/^[A-Za-z]\s*\\in(?![a-zA-Z])\s*/, "");
  latex = latex.replace(/\s+/g, " ").trim().replace(/[.。]$/, "").trim();
  // A single number with thousands separators ("1,000,000"); commas elsewhere separate items.
  if (/^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$/.test(latex)) latex = latex.replaceAll(",", "");
  return { latex, percent };
}
