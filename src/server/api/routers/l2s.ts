import { z } from "zod";
import { runL2sMetrics } from "../../metrics/l2s";
import { createTRPCRouter, publicProcedure } from "../trpc";
import { findRun } from "./run-data";

const runId = z.string().min(1).max(64);

/** The L2S metrics (accuracy, mean generated tokens, negative transfer against the source experts) of runs. */
export const l2sRouter = createTRPCRouter({
  run: publicProcedure.input(z.object({ id: runId })).query(async ({ ctx, input }) => runL2sMetrics(ctx.db, await findRun(ctx.db, input.id))),

  /** The compare page's picked runs, in the order given. */
  compare: publicProcedure.input(z.object({ ids: z.array(runId).min(1).max(4) })).query(({ ctx, input }) => Promise.all(input.ids.map(async (id) => runL2sMetrics(ctx.db, await findRun(ctx.db, id))))),
});
