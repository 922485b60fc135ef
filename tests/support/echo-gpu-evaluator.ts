/*
 * A stand-in for a GPU evaluation process in gpu-pool.test.ts: each candidate's utility is its first value;
 * the prediction reports which process answered and what pinning environment it was given.
 * A first value of -1 makes the process exit, -2 makes the evaluation throw.
 */
import { serveEvaluations } from "../../src/server/search/gpu-evaluator-process";

await serveEvaluations(async (_config, gpu) => ({
  async evaluate(vectors) {
    if (vectors.some((vector) => vector[0] === -1)) process.exit(3);
    if (vectors.some((vector) => vector[0] === -2)) throw new Error("the model could not be loaded");
    // Long enough that two concurrent calls overlap.
    await new Promise((resolve) => setTimeout(resolve, 100));
    return vectors.map((vector) => ({
      utility: vector[0]!,
      metrics: { gpu },
      results: [{ index: 0, prediction: `${process.pid} ${process.env.MERGE_SEARCH_VK_DEVICE_UUID ?? "unpinned"}`, correct: true, tokens: 0, score: 1 }],
      tokens: 0,
      ms: 0,
    }));
  },
}));
