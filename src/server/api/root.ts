import { createCallerFactory, createTRPCRouter } from "./trpc";
import { runsRouter } from "./routers/runs";
import { systemRouter } from "./routers/system";

export const appRouter = createTRPCRouter({
  system: systemRouter,
  runs: runsRouter,
});

export type AppRouter = typeof appRouter;

export const createCaller = createCallerFactory(appRouter);
