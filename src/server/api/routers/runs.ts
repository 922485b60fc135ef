import { z } from "zod";
import { createTRPCRouter, publicProcedure } from "../trpc";

export const runsRouter = createTRPCRouter({
  list: publicProcedure
    .input(z.object({ limit: z.number().int().min(1).max(500).default(100) }).default({ limit: 100 }))
    .query(({ ctx, input }) =>
      ctx.db.run.findMany({
        orderBy: { createdAt: "desc" },
        take: input.limit,
        select: {
          id: true,
          name: true,
          status: true,
          origin: true,
          mergeMethod: true,
          dataset: true,
          evalType: true,
          createdAt: true,
          startedAt: true,
          finishedAt: true,
          endingBestValidationUtility: true,
          endingBestSingleTestAccuracy: true,
        },
      }),
    ),
});
