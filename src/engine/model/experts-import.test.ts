import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FIXTURES, modelFolder } from "../../../tests/support/hf-fixtures";
import { expertFolders } from "../catalog";
import { checkAdapterFitsDecoder } from "../eval/peft-lora";
import { loadPeftAdapter, readSafetensors, writeSafetensors } from "../tensors";
import { EXTRACTION_REPORT } from "./extract-lora";
import { classifyExperts, ExpertsImportError, IMPORT_MARKER, importExperts } from "./experts-import";
import { decoderShapeOf, LORA_MODULES } from "./graph-builder";
import { readHfModel } from "./hf-model";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "experts-import-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** An experts folder of copies: name -> the fixture folder it copies (null: an empty folder). */
function expertsFolder(name: string, entries: Record<string, string | null>): string {
  const dir = path.join(scratch, name);
  for (const [entry, source] of Object.entries(entries)) {
    if (source) fs.cpSync(path.join(FIXTURES, source), path.join(dir, entry), { recursive: true });
    else fs.mkdirSync(path.join(dir, entry), { recursive: true });
  }
  return dir;
}

const llama = modelFolder("llama");
const mixed = expertsFolder("mixed", {
  "a-adapter": "llama/adapter",
  "b-adapter": "llama/adapter-b",
  "c-tuned": "llama/finetune",
  "d-mistral-adapter": "mistral/adapter",
  "e-mistral-tuned": "mistral/finetune",
  "f-notes": null,
});
fs.writeFileSync(path.join(mixed, "README.md"), "not a folder: not a candidate\n");

describe("classifyExperts", () => {
  it("tells each subfolder's kind against the base, and why one does not fit", async () => {
    const candidates = await classifyExperts(llama, mixed);
    expect(candidates.map(({ name, kind, problem }) => ({ name, kind, fits: problem === null }))).toEqual([
      { name: "a-adapter", kind: "lora", fits: true },
      { name: "b-adapter", kind: "lora", fits: true },
      { name: "c-tuned", kind: "finetune", fits: true },
      { name: "d-mistral-adapter", kind: "lora", fits: false },
      { name: "e-mistral-tuned", kind: "finetune", fits: false },
      { name: "f-notes", kind: "other", fits: false },
    ]);
    const byName = new Map(candidates.map((candidate) => [candidate.name, candidate]));
    expect(byName.get("b-adapter")).toMatchObject({ rank: 2, targetModules: ["down_proj", "q_proj", "v_proj"] });
    expect(byName.get("d-mistral-adapter")!.problem).toBe(`${path.join(mixed, "d-mistral-adapter")}: module 0.v_proj maps 64 → 16 features, the decoder's 64 → 32: the adapter was made for another base model`);
    expect(byName.get("e-mistral-tuned")!.problem).toMatch(/e-mistral-tuned\/config\.json: model family \(architectures \/ model_type\) is "mistral", but the base model's \(.*\) is "llama"/);
    expect(byName.get("f-notes")!.problem).toBe("holds neither adapter_config.json (a PEFT LoRA adapter) nor config.json (a full fine-tune)");
  });

  it("gives an unreadable adapter as a LoRA that does not fit, with the file's problem", async () => {
    const broken = expertsFolder("broken", { bad: "llama/adapter" });
    fs.writeFileSync(path.join(broken, "bad", "adapter_config.json"), "{ not json");
    const [candidate] = await classifyExperts(llama, broken);
    expect(candidate).toMatchObject({ kind: "lora", problem: expect.stringMatching(/bad\/adapter_config\.json: not valid JSON/) });
  });
});

describe("importExperts", () => {
  it("writes the PEFT experts that fit and a LoRA extracted from each fitting fine-tune: a folder a search takes as its experts", async () => {
    const out = path.join(scratch, "imported");
    const progress: string[] = [];
    const result = await importExperts(llama, mixed, { extractRank: 8, out, device: "cpu", onProgress: (p) => progress.push(`${p.phase} ${p.done}/${p.total}`) });
    expect(result.experts.map(({ name, kind }) => `${name}:${kind}`)).toEqual(["a-adapter:lora", "b-adapter:lora", "c-tuned:finetune"]);
    expect(result.skipped.map((candidate) => candidate.name)).toEqual(["d-mistral-adapter", "e-mistral-tuned", "f-notes"]);
    expect(progress).toContain("extract c-tuned 14/14");
    expect(progress).toContain("copy a-adapter 1/1");

    const folders = expertFolders(out);
    expect(folders.map((folder) => path.basename(folder))).toEqual(["a-adapter", "b-adapter", "c-tuned"]);
    const shape = decoderShapeOf((await readHfModel(llama)).spec, LORA_MODULES);
    for (const folder of folders) checkAdapterFitsDecoder((await loadPeftAdapter(folder)).layout, shape, folder);
    expect(fs.readFileSync(path.join(out, "a-adapter", "adapter_model.safetensors")).equals(fs.readFileSync(path.join(FIXTURES, "llama/adapter/adapter_model.safetensors")))).toBe(true);
    const report = JSON.parse(fs.readFileSync(path.join(out, "c-tuned", EXTRACTION_REPORT), "utf8"));
    expect(report).toMatchObject({ rank: 8, adapter: path.join(out, "c-tuned"), finetune: path.join(mixed, "c-tuned") });
    expect(report.notCarried.map((entry: { name: string }) => entry.name)).toEqual(["model.layers.1.input_layernorm.weight"]);
    expect(fs.readdirSync(out).sort()).toEqual([IMPORT_MARKER, "a-adapter", "b-adapter", "c-tuned"]);
    // Run again, it writes into its own folder.
    await importExperts(llama, mixed, { extractRank: 8, out, device: "cpu" });
    expect(fs.readdirSync(out).sort()).toEqual([IMPORT_MARKER, "a-adapter", "b-adapter", "c-tuned"]);
  });

  it("asks for a rank when the folder holds a full fine-tune, before writing anything", async () => {
    const out = path.join(scratch, "no-rank");
    const attempt = importExperts(llama, mixed, { out });
    await expect(attempt).rejects.toThrow(`${path.join(mixed, "c-tuned")} is a full fine-tune: pass --extract-rank R (e.g. 16) to extract a rank-R LoRA of it`);
    await expect(attempt).rejects.toMatchObject({ option: "extractRank" });
    expect(fs.existsSync(out)).toBe(false);
  });

  it("refuses a rank the extraction cannot give, before writing anything", async () => {
    const out = path.join(scratch, "rank-too-large");
    const attempt = importExperts(llama, mixed, { extractRank: 1000, out, device: "cpu" });
    await expect(attempt).rejects.toThrow(/^rank 1000 is not an integer in \[1, \d+\]: the widest module, model\.layers\.0\.\w+\.\w+\.weight \(\d+ x \d+\), has \d+ singular values$/);
    await expect(attempt).rejects.toMatchObject({ option: "rank" });
    expect(fs.existsSync(out)).toBe(false);
  });

  it("stops at a fine-tune holding a weight that is not finite, naming its file and tensor, with only the experts before it written", async () => {
    const broken = expertsFolder("nan", { "a-adapter": "llama/adapter", tuned: "llama/finetune" });
    const file = path.join(broken, "tuned", "model.safetensors");
    const { tensors, metadata } = await readSafetensors(file);
    tensors.find((tensor) => tensor.name === "model.layers.1.mlp.up_proj.weight")!.data[2 * 64 + 5] = Number.NaN;
    await writeSafetensors(file, tensors, metadata);
    const out = path.join(scratch, "nan-imported");
    await expect(importExperts(llama, broken, { extractRank: 4, out, device: "cpu" })).rejects.toThrow(
      `${file}: tensor "model.layers.1.mlp.up_proj.weight": its difference from the base's holds NaN at row 2, column 5 (a weight of one of them is not finite)`,
    );
    // The marker that lets a later import write here again, and the one expert written before the failure.
    expect(fs.readdirSync(out).sort()).toEqual([IMPORT_MARKER, "a-adapter"]);
  });

  it("writes into a folder of its own only: an --out holding the user's files is refused, and nothing in it is touched", async () => {
    const own = path.join(scratch, "own-files");
    fs.mkdirSync(path.join(own, "a-adapter"), { recursive: true });
    fs.writeFileSync(path.join(own, "a-adapter", "thesis.tex"), "mine\n");
    await expect(importExperts(llama, mixed, { extractRank: 4, out: own, device: "cpu" })).rejects.toThrow(
      new ExpertsImportError(`${own} holds files an import of experts did not write: give a new or empty folder`, "out"),
    );
    expect(fs.readFileSync(path.join(own, "a-adapter", "thesis.tex"), "utf8")).toBe("mine\n");
  });

  it("takes linked expert folders, and never a hidden one (an interrupted extraction's unfinished adapter)", async () => {
    const linked = expertsFolder("linked", { "a-adapter": "llama/adapter", ".c-tuned.partial-123": "llama/adapter-b" });
    fs.symlinkSync(path.resolve(FIXTURES, "llama/adapter-b"), path.join(linked, "b-adapter"));
    expect((await classifyExperts(llama, linked)).map(({ name, kind }) => `${name}:${kind}`)).toEqual(["a-adapter:lora", "b-adapter:lora"]);
    expect(expertFolders(linked).map((folder) => path.basename(folder))).toEqual(["a-adapter", "b-adapter"]);
  });

  it("refuses an experts folder that is missing or a file, and an output inside the experts folder", async () => {
    await expect(importExperts(llama, path.join(scratch, "nowhere"), { out: path.join(scratch, "x") })).rejects.toThrow(ExpertsImportError);
    await expect(importExperts(llama, path.join(mixed, "README.md"), { out: path.join(scratch, "x") })).rejects.toThrow(/README\.md is a file: expected a folder of expert folders/);
    await expect(importExperts(llama, mixed, { out: path.join(mixed, "out"), extractRank: 4 })).rejects.toThrow(/is inside the experts folder/);
  });
});
