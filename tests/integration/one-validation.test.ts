import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { z } from "zod";
import { evalTypes } from "../../src/engine/eval/registry";
import { GTA_SPARSIFY } from "../../src/engine/merge/kernel-enums";
import { MERGE_METHODS } from "../../src/engine/merge/registry";
import type { Layout } from "../../src/engine/tensors";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { dashboardSearchConfigSchema, searchConfigSchema, type SearchConfig } from "../../src/engine/search/config";
import { prepareSearch, searchSpace } from "../../src/engine/search/session";
import { runsRouter } from "../../src/server/api/routers/runs";

/*
 * One merge parameter, from the dashboard's form and from the CLI, to the merge kernel's arguments within one
 * process: validated once, by the method's own schema, when the config is parsed; nothing on the way (prepare,
 * the recipe space, each candidate's merge) parses it again. The eval type's parameters likewise.
 */

const lowered = vi.hoisted(() => [] as Array<{ call: { op: string; args?: { sparsify: number; kLo: Float64Array } }; layout: Layout }>);
vi.mock("../../src/engine/merge/lower", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../src/engine/merge/lower")>();
  return {
    ...original,
    lowerMergePlan: (...args: Parameters<typeof original.lowerMergePlan>) => {
      const call = original.lowerMergePlan(...args);
      lowered.push({ call, layout: args[2] });
      return call;
    },
  };
});

const root = fs.mkdtempSync(path.join(os.tmpdir(), "one-validation-"));
const expertDir = path.join(root, "experts");
for (const expert of ["ja_reader", "math"]) fs.cpSync(path.join("initial_experts", expert), path.join(expertDir, expert), { recursive: true });
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Counts every validation a schema runs, called directly or from a schema around it. */
function countRuns(schema: z.ZodType) {
  const internals = (schema as unknown as { _zod: { run: (...args: unknown[]) => unknown } })._zod;
  const run = internals.run;
  const counter = { runs: 0 };
  internals.run = (...args: unknown[]) => {
    counter.runs += 1;
    return run.apply(internals, args);
  };
  afterAll(() => {
    internals.run = run;
  });
  return counter;
}

const ties = countRuns(MERGE_METHODS.ties.schema);
const exactMatch = countRuns(evalTypes.exact_match.paramsSchema);
const cliConfig = countRuns(searchConfigSchema);
const dashboardConfig = countRuns(dashboardSearchConfigSchema);
beforeEach(() => {
  for (const counter of [ties, exactMatch, cliConfig, dashboardConfig]) counter.runs = 0;
  lowered.length = 0;
});

/** Prepare, the recipe space, and the merges of three candidates: what a search does before evaluating them. */
async function toKernel(config: SearchConfig) {
  const prepared = await prepareSearch(config, { gpus: [], modelCache: path.join(root, "models") });
  const space = searchSpace(prepared, []);
  for (const weights of [[1, 0], [0.25, 0.75], [0.5, 0.5]]) await space.recipe!.materialize(Float32Array.from(weights));
}

function expectDensityInKernelArguments(density: number) {
  expect(lowered).toHaveLength(3);
  for (const { call, layout } of lowered) {
    expect(call.op).toBe("gta");
    expect(call.args!.sparsify).toBe(GTA_SPARSIFY.topk);
    // TIES keeps the floor(density n) largest deltas of each tensor, of each of the two experts.
    const kept = layout.entries.map((entry) => Math.floor(density * entry.size));
    expect([...call.args!.kLo]).toEqual([...kept, ...kept]);
  }
}

describe("a merge parameter is validated once on its way to the kernel", () => {
  it("from the dashboard: runs.create's input parse, then prepare, the recipe space and every candidate's merge", async () => {
    const create = (runsRouter.create as unknown as { _def: { inputs: z.ZodType[] } })._def.inputs;
    expect(create).toEqual([dashboardSearchConfigSchema]);
    const input = await create[0]!.parseAsync({ name: "from-the-form", evalType: "exact_match", dataset: "gsm8k", initialExpertDirectory: expertDir, mergeMethod: "ties", mergeParams: { density: 0.5 }, evalParams: { maxNewTokens: 8 } });
    // What runs.create hands on: the parsed input and the server's output root.
    await toKernel({ ...(input as Omit<SearchConfig, "outputRoot">), outputRoot: root } as SearchConfig);
    expectDensityInKernelArguments(0.5);
    expect({ config: dashboardConfig.runs + cliConfig.runs, ties: ties.runs, exactMatch: exactMatch.runs }).toEqual({ config: 1, ties: 1, exactMatch: 1 });
  });

  it("from the CLI: parseSearchArgs, then the same path", async () => {
    const config = parseSearchArgs(["-n", "from-the-cli", "-e", "exact_match", "-d", "gsm8k", "-i", expertDir, "--output_root", root, "--merge_method", "ties", "--merge_params", '{"density": 0.5}', "--eval_params", '{"maxNewTokens": 8}']);
    await toKernel(config);
    expectDensityInKernelArguments(0.5);
    expect({ config: dashboardConfig.runs + cliConfig.runs, ties: ties.runs, exactMatch: exactMatch.runs }).toEqual({ config: 1, ties: 1, exactMatch: 1 });
  });
});
