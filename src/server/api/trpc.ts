import { initTRPC } from "@trpc/server";
import superjson from "superjson";
import { ZodError } from "zod";
import { flattenConfigIssues, type ConfigIssues } from "../../engine/search/config";
import { SearchSetupError } from "../../engine/search/session";
import { serverDb } from "../db/client";
import { ExtractionRequestError } from "../models/extraction";
import { ModelRegistrationError } from "../models/registry";

export async function createTRPCContext(opts: { headers: Headers }) {
  return { db: serverDb(), headers: opts.headers };
}

/** A search config's issues by field and parameter, when the error is about one: a form shows them in place. */
function configIssuesOf(cause: unknown): ConfigIssues | null {
  if (cause instanceof ZodError) return flattenConfigIssues(cause.issues);
  if (cause instanceof SearchSetupError && cause.field) {
    return flattenConfigIssues([{ path: cause.param ? [cause.field, cause.param] : [cause.field], message: cause.detail }]);
  }
  return null;
}

const t = initTRPC.context<typeof createTRPCContext>().create({
  transformer: superjson,
  errorFormatter({ shape, error }) {
    // field: the input a model registration's or extraction's error is about, so the Models page shows it there.
    const field = error.cause instanceof ModelRegistrationError || error.cause instanceof ExtractionRequestError ? error.cause.field : null;
    return { ...shape, data: { ...shape.data, configIssues: configIssuesOf(error.cause), field } };
  },
});

export const createCallerFactory = t.createCallerFactory;
export const createTRPCRouter = t.router;
export const publicProcedure = t.procedure;
