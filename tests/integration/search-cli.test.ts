import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readSafetensors } from "../../src/engine/tensors";
import { freshDatabase, query, spawnTs } from "./helpers";

const outputRoot = fs.mkdtempSync(path.join(os.tmpdir(), "merge-search-"));
afterAll(() => fs.rmSync(outputRoot, { recursive: true, force: true }));

// Small enough for CI's two cores: 8 dev and 8 test questions, short answers.
const quick = ["-e", "exact_match", "-d", "gsm8k", "--eval_params", '{"maxNewTokens": 8}', "--dev_questions", "8", "--test_questions", "8", "-m", "3", "-p", "10", "--output_root", outputRoot];

async function search(databaseUrl: string, args: string[]) {
  const cli = spawnTs("scripts/search.ts", args, { DATABASE_URL: databaseUrl });
  const code = await cli.exit();
  return { code, output: cli.output() };
}

const scratchpad = (name: string) => JSON.parse(fs.readFileSync(path.join(outputRoot, name, "utility_scratchpad.json"), "utf8")) as Record<string, unknown>;

describe("npm run search", () => {
  it("runs a search into its folder and the database, and repeats it exactly with the same seed", async () => {
    const url = await freshDatabase();
    const first = await search(url, ["-n", "same-a", "--seed", "7", ...quick]);
    expect(first.code, first.output).toBe(0);
    expect(first.output).toMatch(/^starting_best_validation_utility: [\d.]+$/m);
    expect(first.output).toMatch(/^ending_best_single_test_accuracy: [\d.]+$/m);
    expect(first.output).toContain("search same-a: time per evaluation: not measured yet: no earlier run of this base model evaluated exact_match on the CPU\n");
    const folder = path.join(outputRoot, "same-a");
    for (const file of ["utility_scratchpad.json", "log.txt", "metrics.json", "global_best/adapter_config.json", "global_best/adapter_model.safetensors", "global_worst/adapter_model.safetensors"]) {
      expect(fs.existsSync(path.join(folder, file)), file).toBe(true);
    }
    const log = fs.readFileSync(path.join(folder, "log.txt"), "utf8");
    for (const metric of ["starting_best_validation_utility", "starting_best_single_test_accuracy", "ending_best_validation_utility", "ending_best_single_test_accuracy"]) {
      expect(log).toMatch(new RegExp(`${metric}: [\\d.]+`));
    }
    const pad = scratchpad("same-a");
    expect(pad.history).toHaveLength(4);
    expect(pad.candidate_0_history).toHaveLength(4);

    const [run] = await query<{ status: string; origin: string }>(url, `SELECT status, origin FROM "Run" WHERE name = 'same-a'`);
    expect(run).toEqual({ status: "completed", origin: "cli" });
    const iterations = await query<{ count: string }>(url, `SELECT count(*) FROM "Iteration" i JOIN "Run" r ON r.id = i."runId" WHERE r.name = 'same-a'`);
    expect(iterations).toEqual([{ count: "4" }]);

    const second = await search(url, ["-n", "same-b", "--seed", "7", ...quick]);
    expect(second.code, second.output).toBe(0);
    // Priced from the first run's 8 candidates × 4 evaluations, in the same database.
    expect(second.output).toMatch(
      /search same-b: time per evaluation: about [\d.]+ (ms|s) per evaluation \(measured: the median of 32 evaluations in 1 earlier run of this base model on the CPU, per question × new token, scaled to 8 questions × 8 new tokens\)\n/,
    );
    expect(scratchpad("same-b")).toEqual(pad);
  });

  it("resumes a run killed with SIGKILL and ends where an uninterrupted run ends", async () => {
    const url = await freshDatabase();
    const whole = await search(url, ["-n", "whole", "--seed", "9", "--step_length", "0.7", ...quick]);
    expect(whole.code, whole.output).toBe(0);

    const victim = spawnTs("scripts/search.ts", ["-n", "killed", "--seed", "9", "--step_length", "0.7", ...quick], { DATABASE_URL: url });
    await victim.line(/^iteration 1\/3/);
    victim.child.kill("SIGKILL");
    await victim.exit();
    // Killed mid-run: the row still says running, and the resume below takes it over.
    expect(await query(url, `SELECT status FROM "Run" WHERE name = 'killed'`)).toEqual([{ status: "running" }]);

    const resumed = await search(url, ["-n", "killed", "--seed", "9", "--step_length", "0.7", ...quick]);
    expect(resumed.code, resumed.output).toBe(0);
    expect(fs.readFileSync(path.join(outputRoot, "killed", "log.txt"), "utf8")).toMatch(/resuming after iteration [12]/);
    expect(scratchpad("killed")).toEqual(scratchpad("whole"));
    // Same tensors; the files' metadata differ only in the run's name.
    const tensors = async (name: string) => (await readSafetensors(path.join(outputRoot, name, "global_best", "adapter_model.safetensors"))).tensors;
    expect(await tensors("killed")).toEqual(await tensors("whole"));
  });

  it("searches merge weights in recipe mode and exports the best recipe", async () => {
    const url = await freshDatabase();
    const recipe = await search(url, ["-n", "recipe", "--merge_method", "task_arithmetic", "--merge_params", '{"base_model_idx": null}', ...quick]);
    expect(recipe.code, recipe.output).toBe(0);
    const yaml = fs.readFileSync(path.join(outputRoot, "recipe", "global_best_recipe.yaml"), "utf8");
    expect(yaml).toMatch(/^merge_method: task_arithmetic$/m);
    expect(yaml.match(/- model: /g)).toHaveLength(8);
    const config = JSON.parse(fs.readFileSync(path.join(outputRoot, "recipe", "global_best", "adapter_config.json"), "utf8")) as { r: number };
    expect(config.r % 8).toBe(0);
  });

  it.each([
    [["-n", "x", "-e", "exact_match"], "search: --dataset: required"],
    [["-n", "x", "-e", "exact_match", "-d", "gsm8k", "--step_lenght", "1"], "search: unknown flag --step_lenght (did you mean --step_length?); -h lists every flag"],
    [["-n", "x", "-e", "exact_match", "-d", "nope"], /^search: --dataset: .*nope\.json: cannot read it \(ENOENT\)$/],
    [["-n", "x", "-e", "multiple_choice", "-d", "gsm8k"], /^search: --dataset: .*gsm8k\.json: dev\[0\]\.choices: /],
    [["-n", "x", "-e", "exact_match", "-d", "gsm8k", "--merge_method", "ties", "--merge_params", '{"density": 2}'], /^search: --merge_params: field "density": Too big: expected number to be <=1 \(got 2\)$/],
    [["-n", "x", "-e", "exact_match", "-d", "gsm8k", "-g", "3"], "search: --gpus: GPU 3 does not exist (no GPU is visible on this machine; use \"cpu\")"],
    [["-n", "x", "-e", "exact_match", "-d", "gsm8k", "-i", "initial_experts/base"], /^search: --initial_expert_directory: initial_experts\/base holds 0 PEFT adapter folder\(s\)/],
  ])("rejects %j before any work", async (args, message) => {
    const { code, output } = await search("postgresql://unused:unused@127.0.0.1:1/unused", args);
    expect(code).toBe(2);
    expect(output.trim()).toMatch(typeof message === "string" ? new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`) : message);
  });

  it("prints every flag with its default for -h", async () => {
    const { code, output } = await search("postgresql://unused:unused@127.0.0.1:1/unused", ["-h"]);
    expect(code).toBe(0);
    for (const flag of ["-n, --name", "-e, --eval_type", "-d, --dataset", "-g, --gpus", "--step_length", "-p, --patience", "-m, --max_iteration", "--populate_initial_experts", "--merge_method", "--merge_params"]) {
      expect(output).toContain(flag);
    }
    expect(output).toMatch(/--step_length .*default: 1\)/);
  });
});
