/*
 * The metrics the L2S project (evolutionary merging for long-to-short math reasoning) reports beside utility:
 * accuracy, mean generated tokens, and the negative-transfer rate of a merge against its source models, all from
 * per-question results. Its compute_NTR.py defines NTR over the questions that at least one source answered right
 * (correct_by_base = base1 | base2): the share of those that the merge gets wrong.
 */

/** What these metrics read of one question's result (the evaluator's QuestionResult carries more). */
export interface AnsweredQuestion {
  /** The question's index in its split. */
  index: number;
  correct: boolean;
  tokens: number;
}

export interface NegativeTransfer {
  /** negative / eligible; null when no source answered any question right (there is nothing to lose). */
  rate: number | null;
  /** Questions a source answered right that the merge got wrong. */
  negative: number;
  /** Questions a source answered right: the rate's denominator. */
  eligible: number;
  /** Questions asked. */
  total: number;
}

export interface NegativeTransferReport {
  /** L2S's NTR, the headline: against the union of the sources (a question counts when any source got it right). */
  union: NegativeTransfer;
  /** The same rate against each source alone, in the order the sources were given. */
  perSource: NegativeTransfer[];
}

/** Two result lists that do not cover the same questions cannot be compared question by question. */
export class MismatchedQuestionsError extends Error {
  override name = "MismatchedQuestionsError";
}

/** Share of questions answered right; null for no questions (nothing was measured). */
export function accuracy(results: readonly AnsweredQuestion[]): number | null {
  if (results.length === 0) return null;
  return results.filter((result) => result.correct).length / results.length;
}

/** Mean tokens generated per question; null for no questions. */
export function meanGeneratedTokens(results: readonly AnsweredQuestion[]): number | null {
  if (results.length === 0) return null;
  return results.reduce((sum, result) => sum + result.tokens, 0) / results.length;
}

/** Correctness by question index; the same index twice is a malformed result list. */
function correctnessByIndex(results: readonly AnsweredQuestion[], what: string): Map<number, boolean> {
  const byIndex = new Map<number, boolean>();
  for (const result of results) {
    if (byIndex.has(result.index)) throw new MismatchedQuestionsError(`${what} answers question ${result.index} twice`);
    byIndex.set(result.index, result.correct);
  }
  return byIndex;
}

function sameQuestions(reference: { name: string; byIndex: Map<number, boolean> }, other: { name: string; byIndex: Map<number, boolean> }) {
  const missing = [...reference.byIndex.keys()].find((index) => !other.byIndex.has(index)) ?? [...other.byIndex.keys()].find((index) => !reference.byIndex.has(index));
  if (missing !== undefined) {
    throw new MismatchedQuestionsError(`${other.name} answered ${other.byIndex.size} questions and ${reference.name} ${reference.byIndex.size}, question ${missing} not by both: expected the same questions`);
  }
}

function transfer(merged: Map<number, boolean>, rightBySource: (index: number) => boolean): NegativeTransfer {
  let negative = 0;
  let eligible = 0;
  for (const [index, correct] of merged) {
    if (!rightBySource(index)) continue;
    eligible += 1;
    if (!correct) negative += 1;
  }
  return { rate: eligible > 0 ? negative / eligible : null, negative, eligible, total: merged.size };
}

/**
 * The negative transfer of `merged` from `sources` (each source's results on the same questions, matched by index):
 * L2S's union form, and per source. Throws MismatchedQuestionsError when the lists do not cover the same questions.
 */
export function negativeTransfer(merged: readonly AnsweredQuestion[], sources: ReadonlyArray<{ name: string; results: readonly AnsweredQuestion[] }>): NegativeTransferReport {
  const mergedByIndex = correctnessByIndex(merged, "the merge");
  const sourceMaps = sources.map((source) => {
    const byIndex = correctnessByIndex(source.results, source.name);
    sameQuestions({ name: "the merge", byIndex: mergedByIndex }, { name: source.name, byIndex });
    return byIndex;
  });
  return {
    union: transfer(mergedByIndex, (index) => sourceMaps.some((source) => source.get(index) === true)),
    perSource: sourceMaps.map((source) => transfer(mergedByIndex, (index) => source.get(index) === true)),
  };
}

/** The experts among a run's starting candidates: all of them, or in a pairs start the N before the N(N−1)/2 pairs. */
export function sourceExpertCount(initialPopulation: "experts" | "pairs", startingNames: number): number {
  if (initialPopulation === "experts") return startingNames;
  // N + N(N−1)/2 = N(N+1)/2 starting candidates.
  const experts = Math.round((Math.sqrt(8 * startingNames + 1) - 1) / 2);
  if ((experts * (experts + 1)) / 2 !== startingNames) throw new Error(`${startingNames} starting candidates are not N experts and their N(N−1)/2 pairs`);
  return experts;
}

/**
 * Per-question correctness as a 0/1 table, one row per model (the L2S project's score tensors, side by side): the
 * columns are the question indices every model answered, ascending.
 */
export function correctnessTable(models: ReadonlyArray<{ name: string; results: readonly AnsweredQuestion[] }>): { questions: number[]; rows: Array<{ name: string; scores: Array<0 | 1> }> } {
  const maps = models.map((model) => correctnessByIndex(model.results, model.name));
  const first = maps[0];
  if (!first) return { questions: [], rows: [] };
  maps.slice(1).forEach((byIndex, position) => sameQuestions({ name: models[0]!.name, byIndex: first }, { name: models[position + 1]!.name, byIndex }));
  const questions = [...first.keys()].sort((a, b) => a - b);
  return { questions, rows: models.map((model, position) => ({ name: model.name, scores: questions.map((index) => (maps[position]!.get(index) ? 1 : 0)) })) };
}
