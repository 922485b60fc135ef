import { z } from "zod";
import { candidateProvenance } from "../../search/candidate-provenance";
import { createTRPCRouter, publicProcedure } from "../trpc";
import { findRun } from "./run-data";

export const provenanceRouter = createTRPCRouter({
  /** Every candidate's origin, selection and recipe (or distances) per iteration, the best candidate and the importances. */
  ofRun: publicProcedure.input(z.object({ id: z.string().min(1).max(64) })).query(async ({ ctx, input }) => {
    const run = await findRun(ctx.db, input.id);
    return candidateProvenance(ctx.db, run.id);
  }),
});
