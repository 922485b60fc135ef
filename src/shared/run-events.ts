import { z } from "zod";

/*
 * The events a run records in its RunEvent table, as one union on `type`. The writer (run-store) builds them
 * through these types and checks each before it is stored; the stream parses each stored row with it, and the
 * run page reads the same types back through tRPC. Only zod here: the run page imports this module, and nothing
 * of the engine or the server may come with it.
 */

export const runStatuses = ["queued", "running", "failed", "cancelled", "completed"] as const;
export type RunStatus = (typeof runStatuses)[number];

export const testRoles = ["starting_best", "starting", "ending_best", "top_k"] as const;
export type TestRole = (typeof testRoles)[number];

const finalMetricsSchema = z
  .object({
    starting_best_validation_utility: z.number(),
    starting_best_single_test_accuracy: z.number(),
    ending_best_validation_utility: z.number(),
    ending_best_single_test_accuracy: z.number(),
  })
  .catchall(z.number());

const candidateIndex = z.number().int().min(0);

/** One evaluation device's share of an iteration: what it answered, how long it was busy, what memory it held after. */
export const deviceFiguresSchema = z.object({
  host: z.string(),
  name: z.string(),
  questions: z.number().int().min(0),
  busyMs: z.number().int().min(0),
  questionsPerSecond: z.number().min(0).nullable(),
  /** The CPU: the evaluating process's resident set; a GPU: its memory in use; null where the device cannot say. */
  memoryBytes: z.number().min(0).nullable(),
});
export type DeviceFigures = z.infer<typeof deviceFiguresSchema>;

export const runEventSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("created"), payload: z.object({ name: z.string(), origin: z.enum(["cli", "ui"]) }) }),
  z.object({
    type: z.literal("status"),
    payload: z.object({
      status: z.enum(runStatuses),
      /** Why the run failed or was cancelled, when known. */
      error: z.string().optional(),
      /** Only on the final "completed": the run's metrics.json. */
      metrics: finalMetricsSchema.optional(),
    }),
  }),
  z.object({
    type: z.literal("iteration"),
    payload: z.object({
      index: z.number().int().min(0),
      best: z.number(),
      worst: z.number(),
      scores: z.array(z.number()),
      evaluated: z.array(candidateIndex),
      restarted: z.array(candidateIndex),
      newBest: z.boolean(),
      stepLength: z.number(),
      evalMs: z.number().int().min(0),
      mergeMs: z.number().int().min(0),
      /** Absent on iterations recorded before devices were: an empty list is an iteration that evaluated nothing. */
      devices: z.array(deviceFiguresSchema).optional(),
    }),
  }),
  z.object({
    type: z.literal("test"),
    payload: z.object({
      role: z.enum(testRoles),
      /** The candidate tested; for ending_best, the one that set the global best. */
      candidate: z.number().int(),
      utility: z.number(),
    }),
  }),
]);

export type RunEvent = z.infer<typeof runEventSchema>;
export type RunEventType = RunEvent["type"];
export type RunEventPayload<T extends RunEventType> = Extract<RunEvent, { type: T }>["payload"];

/** A stored run event as the stream sends it: the union plus its database id (as a string) and commit time. */
export type RunEventMessage = RunEvent & { id: string; createdAt: Date };

/** Parses a stored or about-to-be-stored event; the error names the event and the field that does not fit. */
export function parseRunEvent(event: { type: string; payload: unknown }, where: string): RunEvent {
  const parsed = runEventSchema.safeParse(event);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => `${issue.path.join(".") || "event"}: ${issue.message}`).join("; ");
  throw new Error(`${where}: run event of type "${event.type}" does not fit the run event union (${issues})`);
}
