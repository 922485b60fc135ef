import { TRPCError } from "@trpc/server";
import { getErrorShape } from "@trpc/server/unstable-core-do-not-import";
import { describe, expect, it } from "vitest";
import { SearchSetupError } from "../../engine/search/session";
import type { Db } from "../db/client";
import { ModelRegistrationError } from "../models/registry";
import { appRouter, createCaller } from "./root";

/** The error as a client receives it: the router's errorFormatter applied, as the HTTP adapter applies it. */
function shapeOf(error: TRPCError) {
  return getErrorShape({ config: appRouter._def._config, error, type: "mutation", path: "runs.create", input: undefined, ctx: undefined });
}

async function rejection(promise: Promise<unknown>): Promise<TRPCError> {
  try {
    await promise;
  } catch (error) {
    return error as TRPCError;
  }
  throw new Error("it was accepted");
}

describe("errors reach forms as config issues, by field and parameter", () => {
  it("a config the input schema refuses: every issue at its field, a merge parameter's at the parameter too", async () => {
    const caller = createCaller({ db: {} as Db, headers: new Headers() });
    const error = await rejection(caller.runs.create({ name: "..", evalType: "exact_match", dataset: "gsm8k", mode: "recipe", mergeMethod: "ties", mergeParams: { density: 2 } }));
    expect(shapeOf(error).data.configIssues).toEqual({
      fields: { name: expect.stringMatching(/^expected a name with a letter, digit, dash or underscore, not only dots/) },
      mergeParams: {},
      evalParams: {},
    });
    const params = await rejection(caller.runs.create({ name: "x", evalType: "exact_match", dataset: "gsm8k", mode: "recipe", mergeMethod: "ties", mergeParams: { density: 2 } }));
    expect(shapeOf(params).data.configIssues).toEqual({
      fields: { mergeParams: "Too big: expected number to be <=1 (got 2)" },
      mergeParams: { density: "Too big: expected number to be <=1 (got 2)" },
      evalParams: {},
    });
  });

  it("a setup error: its field, and the parameter it names, without the flag", () => {
    const gpus = new TRPCError({ code: "BAD_REQUEST", message: "--gpus: GPU 3 does not exist", cause: new SearchSetupError("gpus", "GPU 3 does not exist") });
    expect(shapeOf(gpus).data.configIssues).toEqual({ fields: { gpus: "GPU 3 does not exist" }, mergeParams: {}, evalParams: {} });
    const weights = new SearchSetupError("mergeParams", 'merge method "ties": field "weights": expected 2 weights', "weights");
    expect(weights.message).toBe('--merge_params: merge method "ties": field "weights": expected 2 weights');
    expect(shapeOf(new TRPCError({ code: "BAD_REQUEST", message: weights.message, cause: weights })).data.configIssues).toEqual({
      fields: { mergeParams: weights.detail },
      mergeParams: { weights: weights.detail },
      evalParams: {},
    });
  });

  it("an error about no config has none", () => {
    expect(shapeOf(new TRPCError({ code: "BAD_REQUEST", cause: new SearchSetupError(null, "run is completed") })).data.configIssues).toBeNull();
    expect(shapeOf(new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: "boom" })).data.configIssues).toBeNull();
  });
});

describe("a model registration's error reaches the Models page at its input", () => {
  it("names the input (folder or expertsFolder) in data.field; other errors name none", () => {
    const refused = new ModelRegistrationError("expertsFolder", "/x/experts does not exist");
    expect(shapeOf(new TRPCError({ code: "BAD_REQUEST", message: refused.message, cause: refused })).data.field).toBe("expertsFolder");
    expect(shapeOf(new TRPCError({ code: "BAD_REQUEST", message: "--gpus: GPU 3 does not exist", cause: new SearchSetupError("gpus", "GPU 3 does not exist") })).data.field).toBeNull();
  });
});
