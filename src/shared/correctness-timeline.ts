/*
 * Correctness over time: the global best's answer to each dev question after each iteration, and where a question
 * was gained (wrong, then right) or lost. Pure, shared by the server (which reads the stored rows) and the run page.
 */

/** A dev evaluation as stored: which candidate, at which iteration, with what utility. */
export interface ScoredEvaluation {
  iteration: number;
  candidate: number;
  utility: number;
}

/** Which stored evaluation is the global best after an iteration. */
export interface BestAt {
  iteration: number;
  /** The evaluation's own iteration and candidate: an earlier one while no later evaluation beat it. */
  foundAt: number;
  candidate: number;
}

/**
 * The global best after each of `iterations`, from the stored dev evaluations, for iterations recorded before the
 * best was stored beside them. As the search keeps it: the first iteration's best evaluation (the lowest candidate
 * among equals), replaced only by a strictly better one of a later iteration. `orientation` is +1 where the utility
 * is maximised and −1 where it is minimised (perplexity): the search compares orientation × utility.
 */
export function globalBestByIteration(iterations: readonly number[], evaluations: readonly ScoredEvaluation[], orientation: 1 | -1): BestAt[] {
  const byIteration = new Map<number, ScoredEvaluation[]>();
  for (const evaluation of evaluations) byIteration.set(evaluation.iteration, [...(byIteration.get(evaluation.iteration) ?? []), evaluation]);
  const fitness = (evaluation: ScoredEvaluation) => orientation * evaluation.utility;
  let best: ScoredEvaluation | null = null;
  const found: BestAt[] = [];
  for (const iteration of [...iterations].sort((a, b) => a - b)) {
    const top = (byIteration.get(iteration) ?? []).reduce<ScoredEvaluation | null>(
      (current, evaluation) => (!current || fitness(evaluation) > fitness(current) || (evaluation.utility === current.utility && evaluation.candidate < current.candidate) ? evaluation : current),
      null,
    );
    if (top && (!best || fitness(top) > fitness(best))) best = top;
    if (best) found.push({ iteration, foundAt: best.iteration, candidate: best.candidate });
  }
  return found;
}

/** One question's answers after each iteration (null: the best's answers are not stored) and when they changed. */
export interface QuestionTimeline {
  index: number;
  correct: Array<boolean | null>;
  /** Iterations after which the global best answers it right and, after the iteration before, wrong. */
  gained: number[];
  lost: number[];
}

/**
 * `answers[i]`: the global best's correct/wrong per question after `iterations[i]`, or null where not stored. A gain or
 * loss is counted between consecutive iterations whose answers are both known: a gap says nothing about when.
 */
export function correctnessTimeline(iterations: readonly number[], answers: ReadonlyArray<readonly boolean[] | null>): QuestionTimeline[] {
  const questions = Math.max(0, ...answers.map((row) => row?.length ?? 0));
  return Array.from({ length: questions }, (_, index) => {
    const correct = answers.map((row) => (row && index < row.length ? row[index]! : null));
    const gained: number[] = [];
    const lost: number[] = [];
    let previous: boolean | null = null;
    correct.forEach((answer, at) => {
      if (answer === null) {
        previous = null;
        return;
      }
      if (previous === false && answer) gained.push(iterations[at]!);
      if (previous === true && !answer) lost.push(iterations[at]!);
      previous = answer;
    });
    return { index, correct, gained, lost };
  });
}
