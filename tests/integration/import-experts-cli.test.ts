import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { prepareSearch } from "../../src/engine/search/session";
import { FIXTURES, modelFolder } from "../support/hf-fixtures";
import { spawnTs } from "./helpers";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "import-experts-cli-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

const experts = path.join(scratch, "experts");
for (const [name, source] of Object.entries({ adapter: "llama/adapter", "adapter-b": "llama/adapter-b", tuned: "llama/finetune", "mistral-adapter": "mistral/adapter" }))
  fs.cpSync(path.join(FIXTURES, source), path.join(experts, name), { recursive: true });

async function runImport(...args: string[]) {
  const cli = spawnTs("scripts/import-model.ts", [modelFolder("llama"), "--cache", path.join(scratch, "models"), "--experts", experts, ...args], {});
  const code = await cli.exit();
  return { code, output: cli.output() };
}

describe("npm run import -- <base> --experts <folder>", () => {
  it("writes the fitting PEFT experts and the extracted fine-tune, and prints each one's outcome and error", async () => {
    const out = path.join(scratch, "imported");
    const { code, output } = await runImport("--extract-rank", "4", "--out", out);
    expect(code, output).toBe(0);
    expect(output).toContain(`experts into ${out} (SVD on cpu): 3 written, 1 left out`);
    expect(output).toMatch(/^ {2}tuned: full fine-tune, rank-4 LoRA extracted in [\d.]+ s: reconstruction error [\d.]+% overall, worst model\.layers\.\d\.\w+\.\w+\.weight [\d.]+%$/m);
    expect(output).toMatch(/^ {4}not carried by a LoRA \(the fine-tune changed them; the base's are used\): model\.layers\.1\.input_layernorm\.weight \(0\.990% change\)$/m);
    expect(output).toMatch(/^ {2}mistral-adapter: left out \(PEFT LoRA\): .*module 0\.v_proj maps 64 → 16 features, the decoder's 64 → 32/m);
    expect(fs.readdirSync(out).sort()).toEqual([".imported-experts", "adapter", "adapter-b", "tuned"]);
  });

  it("builds the decoder for the modules the imported experts adapt: the one a search on them runs", async () => {
    const mistralExperts = path.join(scratch, "mistral-experts");
    for (const name of ["adapter", "adapter-b"]) fs.cpSync(path.join(FIXTURES, "mistral", name), path.join(mistralExperts, name), { recursive: true });
    const cache = path.join(scratch, "mistral-models");
    const cli = spawnTs("scripts/import-model.ts", [modelFolder("mistral"), "--cache", cache, "--experts", mistralExperts, "--out", path.join(scratch, "mistral-imported")], {});
    expect(await cli.exit(), cli.output()).toBe(0);
    const decoder = /decoders built: (\S+), \S+ \([\d.]+ s; LoRA inputs for q_proj, k_proj, v_proj, o_proj, up_proj;/.exec(cli.output())?.[1];
    expect(decoder, cli.output()).toBeDefined();
    const config = parseSearchArgs(["-n", "mistral-cli", "-e", "exact_match", "-d", "gsm8k", "-b", modelFolder("mistral"), "-i", path.join(scratch, "mistral-imported"), "--mode", "recipe", "--output_root", scratch]);
    expect((await prepareSearch(config, { gpus: [], modelCache: cache })).runnerModel.decoders.fp32).toBe(decoder);
  });

  it("puts the experts' outcome into the --json object", async () => {
    const { code, output } = await runImport("--extract-rank", "2", "--out", path.join(scratch, "as-json"), "--json");
    expect(code, output).toBe(0);
    const printed = JSON.parse(output) as { experts: { experts: Array<{ name: string; extraction: { rank: number } | null }>; skipped: Array<{ name: string }> } };
    expect(printed.experts.experts.map((expert) => [expert.name, expert.extraction?.rank ?? null])).toEqual([["adapter", null], ["adapter-b", null], ["tuned", 2]]);
    expect(printed.experts.skipped.map((candidate) => candidate.name)).toEqual(["mistral-adapter"]);
  });

  it("says in one line to pass --extract-rank for a full fine-tune, and names the flag of a bad rank", async () => {
    const missing = await runImport("--out", path.join(scratch, "unused"));
    expect(missing.code).toBe(1);
    expect(missing.output.trim().split("\n").at(-1)).toBe(`import: ${path.join(experts, "tuned")} is a full fine-tune: pass --extract-rank R (e.g. 16) to extract a rank-R LoRA of it`);
    const zero = await runImport("--extract-rank", "0");
    expect(zero.output.trim().split("\n").at(-1)).toBe('import: --extract-rank: expected a positive integer, got "0"');
    const wide = await runImport("--extract-rank", "65", "--out", path.join(scratch, "unused"));
    expect(wide.output.trim().split("\n").at(-1)).toBe(
      "import: --extract-rank: rank 65 is not an integer in [1, 64]: the widest module, model.layers.0.self_attn.q_proj.weight (64 x 64), has 64 singular values",
    );
    expect(fs.existsSync(path.join(scratch, "unused", "tuned"))).toBe(false);
  });
});
