import fs from "node:fs";
import path from "node:path";
import { TRPCError } from "@trpc/server";
import { datasetFile, readDatasetFile } from "../../../engine/catalog";
import { goldAnswerOf } from "../../../engine/eval/registry";
import type { QuestionResult } from "../../../engine/eval/types";
import type { Db } from "../../db/client";
import { realPathInside } from "../../readable-paths";

/*
 * Reads behind the run pages: a run's summary, its best candidate's per-question results (with the dataset's
 * questions beside them) and its log, always from the run's own rows and folder.
 */

export type QuestionResultRow = QuestionResult;

export interface BestResults {
  split: "dev" | "test";
  label: string;
  iteration: number;
  candidate: number;
  utility: number;
  results: Array<QuestionResultRow & { question: string | null; gold: string | null }>;
}

function questionsOf(dataset: string, split: "dev" | "test"): Array<Record<string, unknown>> {
  try {
    return readDatasetFile(datasetFile(dataset))[split] ?? [];
  } catch {
    return [];
  }
}

export async function findRun(db: Db, id: string) {
  const run = await db.run.findUnique({ where: { id } });
  if (!run) throw new TRPCError({ code: "NOT_FOUND", message: `no run ${id}` });
  return run;
}

function withQuestions(dataset: string, split: "dev" | "test", results: unknown): BestResults["results"] {
  const items = questionsOf(dataset, split);
  return ((results as QuestionResultRow[] | null) ?? []).map((result) => {
    const item = items[result.index];
    return {
      ...result,
      question: typeof item?.question === "string" ? item.question : null,
      // Graded as exact_match reads it: a GSM8K-style answer's gold is what follows "####".
      gold: item?.answer == null ? null : goldAnswerOf(String(item.answer)),
    };
  });
}

/** The global best's dev results (the best dev evaluation so far) and, once measured, the ending best's test results. */
export async function bestResults(db: Db, runId: string): Promise<{ dev: BestResults | null; test: BestResults | null }> {
  const run = await findRun(db, runId);
  const bestDev = await db.candidateScore.findFirst({
    where: { runId, split: "dev" },
    orderBy: [{ utility: "desc" }, { iteration: "asc" }, { candidate: "asc" }],
  });
  const endingTest =
    (await db.candidateScore.findFirst({ where: { runId, split: "test", role: "ending_best" } })) ??
    (await db.candidateScore.findFirst({ where: { runId, split: "test", role: "starting_best" } }));
  return {
    dev: bestDev && {
      split: "dev",
      label: `candidate ${bestDev.candidate} at iteration ${bestDev.iteration}`,
      iteration: bestDev.iteration,
      candidate: bestDev.candidate,
      utility: bestDev.utility,
      results: withQuestions(run.dataset, "dev", bestDev.results),
    },
    test: endingTest && {
      split: "test",
      label: endingTest.role === "ending_best" ? "ending best (global_best)" : `starting best (candidate ${endingTest.candidate})`,
      iteration: endingTest.iteration,
      candidate: endingTest.candidate,
      utility: endingTest.utility,
      results: withQuestions(run.dataset, "test", endingTest.results),
    },
  };
}

/**
 * The last `maxBytes` of the run folder's log.txt; the path comes from the run's row, never from the client, and
 * a log.txt that is a link leading out of the folder is not read.
 */
export function readRunLog(outputDir: string | null, maxBytes: number): { text: string; truncated: boolean; sizeBytes: number } {
  const file = outputDir && realPathInside(outputDir, path.join(path.resolve(outputDir), "log.txt"));
  if (!file) return { text: "", truncated: false, sizeBytes: 0 };
  let handle: number | undefined;
  try {
    handle = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const size = fs.fstatSync(handle).size;
    const start = Math.max(0, size - maxBytes);
    const buffer = Buffer.alloc(size - start);
    fs.readSync(handle, buffer, 0, buffer.length, start);
    let text = buffer.toString("utf8");
    if (start > 0) text = text.slice(text.indexOf("\n") + 1);
    return { text, truncated: start > 0, sizeBytes: size };
  } catch {
    return { text: "", truncated: false, sizeBytes: 0 };
  } finally {
    if (handle !== undefined) fs.closeSync(handle);
  }
}
