import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { SearchSetupError } from "../../engine/search/session";
import type { Db } from "../db/client";
import { realPathInside } from "../readable-paths";
import { databaseNow, isStale, runIsExecuting } from "./run-lease";

/*
 * What a user keeps about a run (tags, notes, archived) and removing one with its files. Archiving keeps
 * everything and only hides the run from the list; deleting removes its rows and its folder.
 */

export const tagSchema = z
  .string()
  .trim()
  .min(1, "expected a tag of at least one character")
  .max(40, "expected a tag of at most 40 characters")
  .regex(/^[^,\s]+$/, "expected a tag without spaces or commas");
export const tagsSchema = z.array(tagSchema).max(20, "expected at most 20 tags");
export const notesSchema = z.string().max(10_000, "expected notes of at most 10,000 characters");

/** Tags in the order first given, each once. */
export async function setRunTags(db: Db, runId: string, tags: readonly string[]) {
  const run = await db.run.update({ where: { id: runId }, data: { tags: [...new Set(tags)] }, select: { tags: true } });
  return run.tags;
}

export async function setRunNotes(db: Db, runId: string, notes: string) {
  await db.run.update({ where: { id: runId }, data: { notes } });
}

export async function setRunArchived(db: Db, runId: string, archived: boolean) {
  const run = await db.run.update({ where: { id: runId }, data: { archivedAt: archived ? await databaseNow(db) : null }, select: { archivedAt: true } });
  return run.archivedAt;
}

/**
 * Deletes a run that nothing executes: its rows (scores, iterations, events, artifacts, queued evaluations) and its
 * folder, with the adapters in it. Only a folder inside `outputRoot` is removed; one elsewhere (a CLI run's
 * --output_root) was chosen by whoever ran it and stays, and the answer names it.
 */
export async function deleteRun(db: Db, databaseUrl: string, runId: string, outputRoot: string): Promise<{ removedFolder: string | null; keptFolder: string | null }> {
  const run = await db.run.findUniqueOrThrow({ where: { id: runId }, select: { name: true, status: true, heartbeatAt: true, startedAt: true, outputDir: true } });
  const stale = isStale(run, await databaseNow(db));
  if ((run.status === "running" && !stale) || run.status === "queued") {
    throw new SearchSetupError(null, `run ${run.name} is ${run.status}; cancel it before deleting it`);
  }
  // Cancelled, but still finishing its current iteration: its process would write into what is being removed.
  if (await runIsExecuting(databaseUrl, runId)) throw new SearchSetupError(null, `run ${run.name} is still finishing its current iteration; delete it in a moment`);
  const folder = run.outputDir && fs.existsSync(run.outputDir) ? run.outputDir : null;
  const inside = folder ? realPathInside(outputRoot, folder) : null;
  await db.$transaction([db.evalTask.deleteMany({ where: { runId } }), db.run.delete({ where: { id: runId } })]);
  if (inside) fs.rmSync(inside, { recursive: true, force: true });
  return { removedFolder: inside, keptFolder: folder && !inside ? path.resolve(folder) : null };
}
