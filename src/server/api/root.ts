import { createCallerFactory, createTRPCRouter } from "./trpc";
import { catalogRouter } from "./routers/catalog";
import { formRouter } from "./routers/form";
import { l2sRouter } from "./routers/l2s";
import { modelsRouter } from "./routers/models";
import { provenanceRouter } from "./routers/provenance";
import { runsRouter } from "./routers/runs";
import { systemRouter } from "./routers/system";

export const appRouter = createTRPCRouter({
  system: systemRouter,
  runs: runsRouter,
  catalog: catalogRouter,
  form: formRouter,
  models: modelsRouter,
  provenance: provenanceRouter,
  l2s: l2sRouter,
});

export type AppRouter = typeof appRouter;

export const createCaller = createCallerFactory(appRouter);
