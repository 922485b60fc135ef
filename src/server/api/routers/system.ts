import { systemInfo } from "../../system";
import { createTRPCRouter, publicProcedure } from "../trpc";

export const systemRouter = createTRPCRouter({
  info: publicProcedure.query(({ ctx }) => systemInfo(ctx.db)),
});
