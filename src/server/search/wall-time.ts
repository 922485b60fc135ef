import { formatDuration, type EvaluationEstimate, type SearchBudget } from "../../engine/search/budget";

/*
 * About how long a whole search takes on the chosen devices, from the measured time of one dev evaluation: every
 * dev question of the budget and the test evaluations, at the measured time per question, spread over the devices
 * that evaluate at once. Merging is not in it, so it is a lower bound, as is the budget an upper one (patience).
 */

/** A search longer than this on the CPU is worth a second thought before it is launched. */
export const CPU_WARNING_MS = 3_600_000;

export interface WallTimeEstimate {
  ms: number;
  /** Evaluation processes at once: one per GPU, one on the CPU. */
  parallel: number;
  line: string;
  /** Set when the search would take hours on the CPU. */
  warning: string | null;
}

export function estimateWallTime(budget: SearchBudget, estimate: EvaluationEstimate, devices: { gpus: "cpu" | readonly number[]; distributed: 0 | 1 }): WallTimeEstimate | null {
  if (estimate.source !== "measured" || budget.devQuestions === 0) return null;
  const msPerQuestion = estimate.msPerEvaluation / budget.devQuestions;
  const questions = budget.questions + budget.testEvaluations * budget.testQuestions;
  const onCpu = devices.gpus === "cpu";
  const parallel = onCpu ? 1 : devices.gpus.length;
  const ms = (msPerQuestion * questions) / parallel;
  const where = devices.distributed === 1 ? "on one worker (each worker more divides it)" : onCpu ? "on the CPU" : `on ${parallel} GPU${parallel === 1 ? "" : "s"} at once`;
  const line = `about ${formatDuration(ms)} of evaluation ${where}: ${questions.toLocaleString("en")} questions (dev and test) at the measured time per question; merging comes on top`;
  const warning =
    onCpu && devices.distributed !== 1 && ms >= CPU_WARNING_MS
      ? `this search would evaluate for about ${formatDuration(ms)} on the CPU: choose a GPU, or fewer iterations or dev questions`
      : null;
  return { ms, parallel, line, warning };
}
