// Temporary copies of the committed tiny Hugging Face models (tests/fixtures/hf), edited to make one case each.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll } from "vitest";

export const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/hf");
export const FAMILY_NAMES = ["llama", "mistral", "qwen2", "gemma"] as const;
export const modelFolder = (family: string) => path.join(FIXTURES, family, "model");

export interface Reference {
  family: string;
  prompts: Array<{ text: string; ids: number[]; base: { greedy: number[] }; adapter: { greedy: number[] } }>;
  tokenizer_cases: Array<{ text: string; ids: number[] }>;
}
export const readReference = (family: string): Reference => JSON.parse(readFileSync(path.join(FIXTURES, family, "reference.json"), "utf8"));

const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A copy of `family`'s model folder in a temporary directory, removed after the test file. */
export function copyModel(family: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `hf-${family}-`));
  made.push(dir);
  cpSync(modelFolder(family), dir, { recursive: true });
  return dir;
}

export function editJson(file: string, edit: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  edit(json);
  writeFileSync(file, JSON.stringify(json));
}

/** A copy of `family`'s model whose config.json went through `edit`. */
export function withConfig(family: string, edit: (config: Record<string, unknown>) => void): string {
  const dir = copyModel(family);
  editJson(path.join(dir, "config.json"), edit);
  return dir;
}
