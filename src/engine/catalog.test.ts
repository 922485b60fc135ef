import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { datasetFile, ExpertDirectoryError, expertFolders, expertsIn, listDatasets, readDatasetFile, readExpert } from "./catalog";

const scratch: string[] = [];
function scratchFolder() {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "merge-catalog-"));
  scratch.push(folder);
  return folder;
}
afterEach(() => scratch.splice(0).forEach((folder) => fs.rmSync(folder, { recursive: true, force: true })));

function writeExpert(directory: string, name: string, config: Record<string, unknown> = { r: 4, lora_alpha: 8, target_modules: ["q_proj"] }) {
  fs.mkdirSync(path.join(directory, name), { recursive: true });
  fs.writeFileSync(path.join(directory, name, "adapter_config.json"), JSON.stringify(config));
  fs.writeFileSync(path.join(directory, name, "adapter_model.safetensors"), "12345");
}

describe("the catalog of datasets", () => {
  it("finds a dataset by name in data/eval, or at the path of a .json file", () => {
    expect(datasetFile("gsm8k")).toBe(path.resolve("data/eval/gsm8k.json"));
    expect(datasetFile("elsewhere/mine.json")).toBe(path.resolve("elsewhere/mine.json"));
  });

  it("lists the datasets with their split sizes", () => {
    const datasets = listDatasets();
    expect(datasets.find((dataset) => dataset.name === "gsm8k")).toMatchObject({ file: path.join("data", "eval", "gsm8k.json"), devSize: 200, testSize: 500, multipleChoice: false });
    expect(datasets.find((dataset) => dataset.name === "knowledge_mc")).toMatchObject({ multipleChoice: true });
    expect(datasets.every((dataset) => fs.existsSync(datasetFile(dataset.name)))).toBe(true);
  });

  it("reads a dataset file again once it changed", () => {
    const file = path.join(scratchFolder(), "d.json");
    fs.writeFileSync(file, JSON.stringify({ dev: [{ question: "a", answer: "1" }] }));
    expect(readDatasetFile(file).dev).toHaveLength(1);
    fs.writeFileSync(file, JSON.stringify({ dev: [{ question: "a", answer: "1" }, { question: "b", answer: "2" }] }));
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5_000));
    expect(readDatasetFile(file).dev).toHaveLength(2);
  });
});

describe("the catalog of experts", () => {
  it("gives the search the same expert folders the form lists, in the order the search numbers them", () => {
    const directory = scratchFolder();
    for (const name of ["b", "a", "C"]) writeExpert(directory, name);
    fs.mkdirSync(path.join(directory, "not-an-adapter"));
    fs.writeFileSync(path.join(directory, "notes.txt"), "");
    expect(expertFolders(directory)).toEqual(["C", "a", "b"].map((name) => path.join(directory, name)));
    const listed = expertsIn(directory);
    expect(listed.exists).toBe(true);
    expect(listed.experts.map((expert) => expert.folder).sort()).toEqual(expertFolders(directory));
  });

  it("refuses a folder a search cannot use, naming it and what was expected", () => {
    const directory = scratchFolder();
    expect(() => expertFolders(path.join(directory, "missing"))).toThrow(new ExpertDirectoryError(`${path.join(directory, "missing")} does not exist`));
    fs.writeFileSync(path.join(directory, "file"), "");
    expect(() => expertFolders(path.join(directory, "file"))).toThrow(`${path.join(directory, "file")} is a file, not a folder`);
    writeExpert(directory, "only");
    expect(() => expertFolders(directory)).toThrow(`${directory} holds 1 PEFT adapter folder(s); a search needs at least two`);
    expect(expertsIn(path.join(directory, "missing"))).toEqual({ exists: false, experts: [] });
  });

  it("describes each expert from its adapter_config.json, and what is wrong with a broken one", () => {
    const math = readExpert("initial_experts/math");
    expect(math).toMatchObject({ name: "math", rank: 8, alpha: 16, problem: null });
    expect(math.targetModules.length).toBeGreaterThan(0);
    const directory = scratchFolder();
    writeExpert(directory, "one", { base_model_name_or_path: "base", r: 2, target_modules: "q_proj" });
    expect(readExpert(path.join(directory, "one"))).toEqual({ name: "one", folder: path.join(directory, "one"), baseModel: "base", rank: 2, alpha: null, targetModules: ["q_proj"], sizeBytes: 5, problem: null });
    fs.mkdirSync(path.join(directory, "broken"));
    fs.writeFileSync(path.join(directory, "broken", "adapter_config.json"), "{");
    expect(readExpert(path.join(directory, "broken")).problem).toMatch(/^adapter_config\.json: /);
  });
});
