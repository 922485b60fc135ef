import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IMPORT_MARKER } from "../../src/engine/model/experts-import";
import { EXTRACTION_REPORT, type ExtractionReport } from "../../src/engine/model/extract-lora";
import { readSafetensors, writeSafetensors } from "../../src/engine/tensors";
import { createCaller } from "../../src/server/api/root";
import { ExtractionRequestError, INTERRUPTED_EXTRACTION } from "../../src/server/models/extraction";
import { FIXTURES, modelFolder } from "../support/hf-fixtures";
import { fileEnv, migratedDatabase } from "./helpers";

/*
 * LoRA experts extracted from the Models page (issue #14): the models router starts a background job on a registered
 * model's full fine-tunes, stores its progress and, once done, its report; a request the job would refuse is refused
 * with one line naming the field, storing nothing; never two jobs at once for a model; a job whose server stopped is
 * marked failed and can be started again; the folder written is one the form reads.
 */

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "merge-extraction-"));
const dataDir = path.join(scratch, "data");
fileEnv({ DATA_DIR: dataDir });
const store = migratedDatabase();
let caller: ReturnType<typeof createCaller>;
beforeAll(() => {
  caller = createCaller({ db: store.db, headers: new Headers() });
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A registered copy of the llama fixture whose experts folder holds `experts` (name -> fixture folder under llama/). */
async function registered(name: string, experts: Record<string, string> | null): Promise<{ id: string; folder: string; expertsFolder: string | null }> {
  const folder = path.join(scratch, name);
  fs.cpSync(modelFolder("llama"), folder, { recursive: true });
  let expertsFolder: string | null = null;
  if (experts) {
    expertsFolder = path.join(scratch, `${name}-experts`);
    for (const [expert, source] of Object.entries(experts)) fs.cpSync(path.join(FIXTURES, "llama", source), path.join(expertsFolder, expert), { recursive: true });
  }
  const { id } = await caller.models.register({ folder, expertsFolder });
  return { id, folder, expertsFolder };
}

const extractionsOf = async (id: string) => (await caller.models.list()).find((model) => model.id === id)!.extractions;

async function extractionError(input: { id: string; rank: number }) {
  const error = await caller.models.extract(input).then(
    () => null,
    (thrown: unknown) => thrown as { code?: string; message: string; cause?: unknown },
  );
  expect(error).not.toBeNull();
  return { code: error!.code, message: error!.message, field: (error!.cause as ExtractionRequestError).field };
}

const FULL_EXPERTS = { adapter: "adapter", "adapter-b": "adapter-b", finetune: "finetune" };

describe("extraction from the dashboard", () => {
  it("extracts a registered model's fine-tunes at a rank into DATA_DIR, storing its progress and each expert's report, in a folder the form reads", async () => {
    const model = await registered("llama-model", FULL_EXPERTS);
    const before = fs.readdirSync(model.expertsFolder!).sort();
    const { id } = await caller.models.extract({ id: model.id, rank: 8 });
    await expect.poll(async () => (await extractionsOf(model.id))[0]?.status, { timeout: 30_000 }).toBe("ready");

    const [extraction] = await extractionsOf(model.id);
    const folder = path.join(dataDir, "experts", `llama-model-${model.id}-r8`);
    expect(extraction).toMatchObject({ id, rank: 8, folder, errorText: null, progress: null });
    expect(fs.readdirSync(folder).sort()).toEqual([IMPORT_MARKER, "adapter", "adapter-b", "finetune"]);
    // The last phase's end, in the import's progress shape, was stored before the row turned ready.
    expect(await store.db.expertExtraction.findUniqueOrThrow({ where: { id } })).toMatchObject({ progressPhase: "extract finetune", progressDone: 14, progressTotal: 14 });

    const written = JSON.parse(fs.readFileSync(path.join(folder, "finetune", EXTRACTION_REPORT), "utf8")) as ExtractionReport;
    const worst = written.modules.reduce((most, module) => (module.relativeError > most.relativeError ? module : most));
    expect(extraction!.experts).toEqual([
      { name: "adapter", kind: "lora", relativeError: null, worstModule: null, notCarried: [] },
      { name: "adapter-b", kind: "lora", relativeError: null, worstModule: null, notCarried: [] },
      { name: "finetune", kind: "finetune", relativeError: written.relativeError, worstModule: { name: worst.name, relativeError: worst.relativeError }, notCarried: written.notCarried },
    ]);
    expect(written.notCarried.map((entry) => entry.name)).toEqual(["model.layers.1.input_layernorm.weight"]);

    // The user's folder is as it was; the written one is a folder of experts the new-search form may name.
    expect(fs.readdirSync(model.expertsFolder!).sort()).toEqual(before);
    const listing = await caller.catalog.experts({ directory: folder });
    expect(listing.refused).toBeNull();
    expect(listing.experts.map((expert) => expert.name)).toEqual(["adapter", "adapter-b", "finetune"]);
  });

  it("refuses a rank the extraction cannot give, and what has nothing to extract, with one line each, storing nothing", async () => {
    const model = (await caller.models.list()).find((entry) => entry.folder === path.join(scratch, "llama-model"))!;
    const rows = await store.db.expertExtraction.count();
    for (const rank of [0, 2.5, 1000]) {
      const refusal = await extractionError({ id: model.id, rank });
      expect(refusal).toMatchObject({ code: "BAD_REQUEST", field: "rank" });
      expect(refusal.message).toMatch(new RegExp(`^rank ${rank} is not an integer in \\[1, 64\\]: the widest module, model\\.layers\\.0\\.\\w+\\.\\w+\\.weight \\(\\d+ x \\d+\\), has 64 singular values$`));
    }
    expect(await extractionError({ id: model.id, rank: 8 })).toEqual({ code: "BAD_REQUEST", field: "rank", message: `rank 8 is extracted already, into ${path.join(dataDir, "experts", `llama-model-${model.id}-r8`)}` });

    const adaptersOnly = await registered("llama-adapters-only", { adapter: "adapter", "adapter-b": "adapter-b" });
    expect(await extractionError({ id: adaptersOnly.id, rank: 8 })).toEqual({ code: "BAD_REQUEST", field: null, message: `${adaptersOnly.expertsFolder} holds no full fine-tune of this model to extract a LoRA from` });
    const noExperts = await registered("llama-no-experts", null);
    expect(await extractionError({ id: noExperts.id, rank: 8 })).toEqual({ code: "BAD_REQUEST", field: null, message: "this model was registered without an experts folder: there is nothing to extract" });
    expect(await store.db.expertExtraction.count()).toBe(rows);
  });

  it("runs one extraction of a model at a time; one whose server stopped fails with the reason and can be started again", async () => {
    const model = await registered("llama-interrupted", FULL_EXPERTS);
    // An extraction another server runs: its row beats.
    const running = await store.db.expertExtraction.create({ data: { modelId: model.id, rank: 4, folder: path.join(dataDir, "experts", "elsewhere"), status: "running", progressPhase: "extract finetune", progressDone: 3, progressTotal: 14, heartbeatAt: new Date() } });
    expect((await extractionsOf(model.id))[0]).toMatchObject({ status: "running", progress: { phase: "extract finetune", done: 3, total: 14 } });
    expect(await extractionError({ id: model.id, rank: 2 })).toEqual({ code: "BAD_REQUEST", field: null, message: "an extraction of this model (rank 4) is running: wait for it to end" });

    // Its server is gone: no beat for longer than the lease.
    await store.db.$executeRaw`UPDATE "ExpertExtraction" SET "heartbeatAt" = now() - interval '5 minutes' WHERE id = ${running.id}`;
    expect((await extractionsOf(model.id))[0]).toMatchObject({ id: running.id, status: "failed", errorText: INTERRUPTED_EXTRACTION, progress: null });

    const { id } = await caller.models.extract({ id: model.id, rank: 4 });
    expect(id).toBe(running.id);
    await expect.poll(async () => (await extractionsOf(model.id))[0]?.status, { timeout: 30_000 }).toBe("ready");
    const [done] = await extractionsOf(model.id);
    expect(done).toMatchObject({ rank: 4, folder: path.join(dataDir, "experts", `llama-interrupted-${model.id}-r4`), errorText: null });
    expect(done!.experts!.map((expert) => expert.name)).toEqual(["adapter", "adapter-b", "finetune"]);
  });

  it("stores a job's failure with the engine's line and leaves no half-written folder; removing the model forgets its extractions only", async () => {
    const model = await registered("llama-nan", FULL_EXPERTS);
    const file = path.join(model.expertsFolder!, "finetune", "model.safetensors");
    const { tensors, metadata } = await readSafetensors(file);
    tensors.find((tensor) => tensor.name === "model.layers.1.mlp.up_proj.weight")!.data[2 * 64 + 5] = Number.NaN;
    await writeSafetensors(file, tensors, metadata);

    await caller.models.extract({ id: model.id, rank: 8 });
    await expect.poll(async () => (await extractionsOf(model.id))[0]?.status, { timeout: 30_000 }).toBe("failed");
    const [failed] = await extractionsOf(model.id);
    expect(failed!.errorText).toBe(`${file}: tensor "model.layers.1.mlp.up_proj.weight": its difference from the base's holds NaN at row 2, column 5 (a weight of one of them is not finite)`);
    expect(fs.existsSync(failed!.folder)).toBe(false);
    // A failed folder is no folder the form may name.
    expect((await caller.catalog.experts({ directory: failed!.folder })).refused).not.toBeNull();

    const ready = (await caller.models.list()).find((entry) => entry.folder === path.join(scratch, "llama-model"))!;
    const folder = ready.extractions[0]!.folder;
    await caller.models.remove({ id: ready.id });
    expect(await store.db.expertExtraction.count({ where: { modelId: ready.id } })).toBe(0);
    expect(fs.readdirSync(folder).sort()).toEqual([IMPORT_MARKER, "adapter", "adapter-b", "finetune"]);
  });
});
