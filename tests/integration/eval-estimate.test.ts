import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { estimateEvaluation, measuredEvaluations } from "../../src/server/search/eval-estimate";
import { createRun } from "../../src/server/search/run-store";
import { migratedDatabase } from "./helpers";

/*
 * The estimate's side of the run store: which earlier evaluations are comparable (base model, device, task), how
 * many questions each asked, and that only the latest runs count.
 */

const store = migratedDatabase();
let runs = 0;

/** A run of `flags` whose dev evaluations took `ms` each over `questions` questions. */
async function recordedRun(flags: string[], evaluations: Array<{ ms: number | null; questions: number; split?: "dev" | "test" }>) {
  const config = parseSearchArgs(["-n", `estimate-${(runs += 1)}`, "-e", "exact_match", "-d", "gsm8k", ...flags]);
  const run = await createRun(store.db, config, "cli");
  await store.db.candidateScore.createMany({
    data: evaluations.map(({ ms, questions, split = "dev" }, candidate) => ({
      runId: run.id,
      iteration: 0,
      candidate,
      split,
      utility: 0.5,
      results: Array.from({ length: questions }, (_, index) => ({ index, correct: true, tokens: 3 })),
      evalMs: ms,
    })),
  });
  return { config, run };
}

const onGpu0 = ["-g", "0", "--eval_params", '{"maxNewTokens": 16}'];

describe("the earlier evaluations an estimate is measured from", () => {
  it("takes the dev evaluations of runs on the same base model, device and task, with the questions each asked", async () => {
    const { run } = await recordedRun(onGpu0, [{ ms: 800, questions: 4 }, { ms: 900, questions: 4 }, { ms: null, questions: 4 }, { ms: 5, questions: 4, split: "test" }]);
    await recordedRun(["-g", "1", "--eval_params", '{"maxNewTokens": 16}'], [{ ms: 99_000, questions: 4 }]);
    await recordedRun(["-g", "0", "-b", "./some/other/model"], [{ ms: 99_000, questions: 4 }]);
    await recordedRun(["-g", "0", "-e", "multiple_choice", "-d", "knowledge_mc"], [{ ms: 99_000, questions: 4 }]);
    // The same folder named absolutely, as the dashboard's model picker does.
    const { config } = await recordedRun(["-g", "0", "-b", path.resolve("initial_experts/base"), "--eval_params", '{"maxNewTokens": 32}'], [{ ms: 1000, questions: 2 }]);

    const measured = await measuredEvaluations(store.db, { ...config, evalParams: { maxNewTokens: 8 } });
    expect(measured.toSorted((a, b) => a.ms - b.ms)).toEqual([
      { runId: run.id, ms: 800, questions: 4, newTokens: 16 },
      { runId: run.id, ms: 900, questions: 4, newTokens: 16 },
      { runId: expect.any(String), ms: 1000, questions: 2, newTokens: 32 },
    ]);
    // Per question × new token: 12.5, 14.1 and 15.6 ms; the median × 10 questions × 8 tokens.
    expect(await estimateEvaluation(store.db, { ...config, evalParams: { maxNewTokens: 8 } }, 10)).toMatchObject({ source: "measured", msPerEvaluation: 1125, evaluations: 3, runs: 2 });
  });

  it("takes only the latest runs of a setting, which measured today's evaluator", async () => {
    const flags = ["-g", "0,1", "--eval_params", '{"maxNewTokens": 16}'];
    await recordedRun(flags, [{ ms: 1, questions: 1 }]);
    for (let index = 0; index < 5; index += 1) await recordedRun(flags, [{ ms: 100, questions: 1 }]);
    const { config } = await recordedRun(flags, []);
    expect((await measuredEvaluations(store.db, config)).map((evaluation) => evaluation.ms)).toEqual([100, 100, 100, 100, 100]);
  });

  it("is none for a setting no run has evaluated", async () => {
    const config = parseSearchArgs(["-n", "never", "-e", "length_aware", "-d", "gsm8k"]);
    expect(await estimateEvaluation(store.db, config, 8)).toEqual({ source: "not measured", line: "not measured yet: no earlier run of this base model evaluated length_aware on the CPU" });
  });
});
