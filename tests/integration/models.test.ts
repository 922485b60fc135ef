import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { prepareSearch } from "../../src/engine/search/session";
import { createCaller } from "../../src/server/api/root";
import { INTERRUPTED_BUILD, ModelRegistrationError, ZOO } from "../../src/server/models/registry";
import { FIXTURES, modelFolder } from "../support/hf-fixtures";
import { fileEnv, migratedDatabase } from "./helpers";

/*
 * Registered models (issue #14's Models page) through the tRPC router: a folder that cannot be read is one line and
 * stores nothing; one that can is stored and its decoder built in the background with progress; a build whose
 * server died is not left building; removing a registration leaves every file; the experts that fit and why others do not.
 */

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "merge-models-"));
fileEnv({ DATA_DIR: path.join(scratch, "data") });
const store = migratedDatabase();
let caller: ReturnType<typeof createCaller>;
beforeAll(() => {
  caller = createCaller({ db: store.db, headers: new Headers() });
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A copy of a fixture model, so removing its registration can be checked against files no other test reads. */
function copied(family: string): string {
  const dir = path.join(scratch, `${family}-model`);
  fs.cpSync(modelFolder(family), dir, { recursive: true });
  return dir;
}

/** llama's experts: its adapter twice, gemma's adapter (another shape), gemma's full model, llama's fine-tune, and a stray folder. */
function expertsFolder(): string {
  const dir = path.join(scratch, "llama-experts");
  fs.cpSync(path.join(FIXTURES, "llama", "adapter"), path.join(dir, "a"), { recursive: true });
  fs.cpSync(path.join(FIXTURES, "llama", "adapter"), path.join(dir, "b"), { recursive: true });
  fs.cpSync(path.join(FIXTURES, "gemma", "adapter"), path.join(dir, "gemma-adapter"), { recursive: true });
  fs.cpSync(modelFolder("gemma"), path.join(dir, "gemma-full"), { recursive: true });
  fs.cpSync(path.join(FIXTURES, "llama", "finetune"), path.join(dir, "llama-tuned"), { recursive: true });
  fs.mkdirSync(path.join(dir, "notes"));
  return dir;
}

async function registrationError(input: { folder: string; expertsFolder?: string }) {
  const error = await caller.models.register(input).then(
    () => null,
    (thrown: unknown) => thrown as { code?: string; message: string; cause?: unknown },
  );
  expect(error).not.toBeNull();
  return error!;
}

describe("models", () => {
  it("registers the bundled zoo on an empty database the first time the models are listed, and builds its decoder", async () => {
    const [zoo, ...rest] = await caller.models.list();
    expect(rest).toEqual([]);
    expect(zoo).toMatchObject({ name: "zoo base (bundled)", builtIn: true, family: "llama", folder: path.resolve("initial_experts/base"), expertsFolder: path.resolve("initial_experts") });
    expect(zoo!.parameters).toBeGreaterThan(1e6);
    await expect.poll(async () => (await caller.models.list())[0]!.status, { timeout: 30_000 }).toBe("ready");
    expect(await store.db.registeredModel.count()).toBe(1);
    const detail = await caller.models.detail({ id: zoo!.id });
    expect(detail.experts.map((expert) => [expert.name, expert.fits])).toEqual(["compare", "graph_comp", "graph_path", "ja_reader", "ja_vocab", "knowledge", "math", "sequence"].map((name) => [name, true]));
  });

  it("refuses a folder it cannot read with the reader's one line about the folder, and stores nothing", async () => {
    const missing = path.join(scratch, "nowhere");
    const error = await registrationError({ folder: missing });
    expect(error.code).toBe("BAD_REQUEST");
    expect(error.message).toBe(`${missing}/config.json: missing: a Hugging Face model folder holds config.json beside its safetensors weights and tokenizer.json`);
    expect((error.cause as ModelRegistrationError).field).toBe("folder");

    const folder = copied("qwen2");
    const noExperts = await registrationError({ folder, expertsFolder: path.join(scratch, "no-experts") });
    expect(noExperts.message).toBe(`${path.join(scratch, "no-experts")} does not exist`);
    expect((noExperts.cause as ModelRegistrationError).field).toBe("expertsFolder");
    // A registered experts folder is one the dashboard reads: a folder of anything but experts ("/", a home folder) is refused.
    const notesOnly = path.join(scratch, "notes-only");
    fs.mkdirSync(path.join(notesOnly, "notes"), { recursive: true });
    fs.writeFileSync(path.join(notesOnly, "notes", "todo.txt"), "not an expert\n");
    for (const notExperts of ["/", notesOnly]) {
      const refused = await registrationError({ folder, expertsFolder: notExperts });
      expect(refused.message).toBe(`${notExperts} holds no expert: expected subfolders with adapter_config.json (PEFT LoRA adapters) or config.json (full fine-tunes)`);
      expect((refused.cause as ModelRegistrationError).field).toBe("expertsFolder");
    }
    expect(await store.db.registeredModel.count({ where: { folder: { not: ZOO.folder } } })).toBe(0);
  });

  it("stores a readable folder's facts and builds its decoder in the background, ready with its path", async () => {
    const folder = copied("llama");
    const experts = expertsFolder();
    const { id } = await caller.models.register({ folder, expertsFolder: experts });
    const stored = await store.db.registeredModel.findUniqueOrThrow({ where: { id } });
    expect(stored).toMatchObject({ folder, expertsFolder: experts, family: "llama", fileCount: 1, dtypes: ["F32"] });
    await expect.poll(async () => (await caller.models.list()).find((model) => model.id === id)?.status, { timeout: 30_000 }).toBe("ready");
    const ready = (await caller.models.list()).find((model) => model.id === id)!;
    expect(ready.decoderPath).toMatch(new RegExp(`^${path.join(scratch, "data", "models")}/`));
    expect(fs.existsSync(ready.decoderPath!)).toBe(true);
    // The last phase's end was stored before the row turned ready.
    expect(await store.db.registeredModel.findUniqueOrThrow({ where: { id } })).toMatchObject({ progressPhase: "write decoder", progressDone: 1, progressTotal: 1 });

    const again = await registrationError({ folder });
    expect(again.message).toBe(`${folder} is registered already`);
  });

  it("tells which expert folders fit the model and why the others do not", async () => {
    const { id } = (await caller.models.list()).find((model) => model.folder === path.join(scratch, "llama-model"))!;
    const detail = await caller.models.detail({ id });
    expect(detail.spec).toMatchObject({ family: "llama" });
    const byName = Object.fromEntries(detail.experts.map((expert) => [expert.name, expert]));
    expect(Object.keys(byName)).toEqual(["a", "b", "gemma-adapter", "gemma-full", "llama-tuned", "notes"]);
    expect(byName.a).toMatchObject({ kind: "lora", fits: true, reason: null });
    expect(byName.b).toMatchObject({ kind: "lora", fits: true, reason: null });
    const experts = path.join(scratch, "llama-experts");
    expect(byName["gemma-adapter"]).toMatchObject({ kind: "lora", fits: false });
    expect(byName["gemma-adapter"]!.reason).toMatch(new RegExp(`^${experts}/gemma-adapter: module 0\\.\\w+ maps \\d+ → \\d+ features, the decoder's \\d+ → \\d+: the adapter was made for another base model$`));
    expect(byName["gemma-full"]).toMatchObject({ kind: "full", fits: false });
    expect(byName["gemma-full"]!.reason).toMatch(new RegExp(`^${experts}/gemma-full/config\\.json: model family .* is "gemma", but the base model's .* is "llama"`));
    // A fine-tune of this very base is no expert yet: the reason says how it becomes one.
    expect(byName["llama-tuned"]).toMatchObject({ kind: "full", fits: false, reason: `a full fine-tune of this base: a search takes it once a LoRA is extracted from it (Extract LoRA experts in the model's details on the Models page, or npm run import -- ${path.join(scratch, "llama-model")} --experts ${experts} --extract-rank R)` });
    expect(byName.notes).toMatchObject({ kind: "other", fits: false, reason: "holds neither adapter_config.json (a PEFT LoRA adapter) nor config.json (a full fine-tune)" });
  });

  it("registers a folder once when two requests register it at the same time, the other told so", async () => {
    const folder = copied("gemma");
    const [first, second] = await Promise.allSettled([caller.models.register({ folder }), caller.models.register({ folder })]);
    const refused = [first, second].filter((outcome) => outcome.status === "rejected");
    expect(refused).toHaveLength(1);
    const reason = (refused[0] as PromiseRejectedResult).reason as { code: string; message: string };
    expect({ code: reason.code, message: reason.message }).toEqual({ code: "BAD_REQUEST", message: `${folder} is registered already` });
    expect(await store.db.registeredModel.count({ where: { folder } })).toBe(1);
  });

  it("builds the decoder a search on the model's experts runs, so the search reuses it", async () => {
    const folder = path.join(scratch, "qwen2-for-search");
    fs.cpSync(modelFolder("qwen2"), folder, { recursive: true });
    const experts = path.join(scratch, "qwen2-experts");
    for (const name of ["a", "b"]) fs.cpSync(path.join(FIXTURES, "qwen2", "adapter"), path.join(experts, name), { recursive: true });
    const { id } = await caller.models.register({ folder, expertsFolder: experts });
    await expect.poll(async () => (await caller.models.list()).find((model) => model.id === id)?.status, { timeout: 30_000 }).toBe("ready");
    const { decoderPath } = (await caller.models.list()).find((model) => model.id === id)!;
    const config = parseSearchArgs(["-n", "reuse", "-e", "exact_match", "-d", "gsm8k", "-i", experts, "--base_model", folder, "--output_root", scratch]);
    const prepared = await prepareSearch(config, { gpus: [], modelCache: path.join(scratch, "data", "models") });
    expect(path.dirname(prepared.runnerModel.decoders.fp32)).toBe(decoderPath);
  });

  it("lets the form read a registered model's folders, which were outside the dashboard's folders before", async () => {
    // The same experts in a folder no registration names stay out of reach.
    const unregistered = path.join(scratch, "unregistered-experts");
    fs.cpSync(path.join(scratch, "llama-experts"), unregistered, { recursive: true });
    expect((await caller.catalog.experts({ directory: unregistered })).refused).toMatch(/^outside the folders this dashboard reads/);
    const outside = path.join(scratch, "llama-experts");
    const listing = await caller.catalog.experts({ directory: outside });
    expect(listing.refused).toBeNull();
    expect(listing.experts.map((expert) => expert.name)).toEqual(["a", "b", "gemma-adapter"]);
  });

  it("does not leave a build whose server stopped building: it fails with the reason and can be built again", async () => {
    const folder = copied("mistral");
    const facts = { name: "mistral-model", folder, family: "mistral", parameters: 1n, dtypes: ["F32"], weightBytes: 1n, fileCount: 1 };
    const row = await store.db.registeredModel.create({ data: { ...facts, status: "building" } });
    // Its last beat is older than the lease: the process that built it is gone.
    await store.db.$executeRaw`UPDATE "RegisteredModel" SET "heartbeatAt" = now() - interval '5 minutes' WHERE id = ${row.id}`;
    const listed = (await caller.models.list()).find((model) => model.id === row.id)!;
    expect(listed).toMatchObject({ status: "failed", errorText: INTERRUPTED_BUILD });

    await caller.models.rebuild({ id: row.id });
    await expect.poll(async () => (await caller.models.list()).find((model) => model.id === row.id)?.status, { timeout: 30_000 }).toBe("ready");
    await expect(caller.models.rebuild({ id: row.id })).rejects.toThrow("only a model whose decoder build failed can be built again");
  });

  it("says that a registered experts folder is gone, rather than listing no experts", async () => {
    const experts = path.join(scratch, "short-lived-experts");
    fs.cpSync(path.join(FIXTURES, "qwen2", "adapter"), path.join(experts, "a"), { recursive: true });
    const { id } = await caller.models.register({ folder: copied("qwen2"), expertsFolder: experts });
    fs.rmSync(experts, { recursive: true });
    expect(await caller.models.detail({ id })).toMatchObject({ experts: [], expertsProblem: `${experts}: no longer exists` });
  });

  it("removes a registration and nothing else: the model's files and its decoder stay", async () => {
    const model = (await caller.models.list()).find((entry) => entry.folder === path.join(scratch, "llama-model"))!;
    const files = fs.readdirSync(model.folder).sort();
    await caller.models.remove({ id: model.id });
    expect((await caller.models.list()).some((entry) => entry.id === model.id)).toBe(false);
    expect(fs.readdirSync(model.folder).sort()).toEqual(files);
    expect(fs.existsSync(model.decoderPath!)).toBe(true);
    expect(fs.readdirSync(path.join(scratch, "llama-experts")).sort()).toEqual(["a", "b", "gemma-adapter", "gemma-full", "llama-tuned", "notes"]);
    const zoo = (await caller.models.list())[0]!;
    await expect(caller.models.remove({ id: zoo.id })).rejects.toThrow("the bundled zoo cannot be removed");
    expect((await caller.models.list())[0]).toMatchObject({ id: zoo.id, builtIn: true });
  });
});
