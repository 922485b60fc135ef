import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations } from "../../src/server/db/migrate";
import { freshDatabase, query, spawnTs } from "./helpers";

/*
 * Bad input to `npm run search` is one line naming the flag, before anything is recorded: no Run row, no
 * folder, no stack.
 */

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "merge-search-input-"));
let databaseUrl = "";
beforeAll(async () => {
  databaseUrl = await freshDatabase();
  await applyMigrations(databaseUrl);
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

const quick = ["-e", "exact_match", "-d", "gsm8k", "--dev_questions", "4", "--test_questions", "4", "-m", "1"];

async function refused(args: string[]) {
  const cli = spawnTs("scripts/search.ts", ["-n", "bad-input", ...quick, ...args], { DATABASE_URL: databaseUrl, DEBUG: "" });
  const code = await cli.exit();
  const runs = await query<{ count: string }>(databaseUrl, `SELECT count(*)::text AS count FROM "Run"`);
  return { code, lines: cli.output().trim().split("\n"), runs: Number(runs[0]!.count) };
}

describe("npm run search with bad input", () => {
  it("an --output_root that is a file: one line naming the flag, and no Run row", async () => {
    const file = path.join(scratch, "a-file");
    fs.writeFileSync(file, "not a folder");
    expect(await refused(["--output_root", file])).toEqual({ code: 2, lines: [`search: --output_root: ${file} is a file, not a folder`], runs: 0 });
    expect(await refused(["--output_root", path.join(file, "below")])).toEqual({
      code: 2,
      lines: [`search: --output_root: ${file} is a file, not a folder (on the way to ${path.join(file, "below")})`],
      runs: 0,
    });
  });

  it("an expert folder that is a file, and a base model whose tokenizer config is not JSON: one line each", async () => {
    const file = path.join(scratch, "experts-file");
    fs.writeFileSync(file, "x");
    expect(await refused(["-i", file])).toEqual({ code: 2, lines: [`search: --initial_expert_directory: ${file} is a file, not a folder`], runs: 0 });

    const base = path.join(scratch, "base");
    fs.cpSync("initial_experts/base", base, { recursive: true });
    fs.writeFileSync(path.join(base, "tokenizer_config.json"), "{ not json");
    const result = await refused(["-b", base, "--output_root", scratch]);
    expect(result).toMatchObject({ code: 2, runs: 0 });
    expect(result.lines).toEqual([expect.stringMatching(new RegExp(`^search: --base_model: ${path.join(base, "tokenizer_config.json")}: not valid JSON \\(.+\\)$`))]);
    expect(fs.readdirSync(scratch).sort()).toEqual(["a-file", "base", "experts-file"]);
  });

  it.each([
    ["a run named ..", ["-n", "..", "--output_root", scratch], "--name: expected a name with a letter, digit, dash or underscore, not only dots (it names the run's folder inside --output_root)"],
    ["--step_length 0x1", ["--step_length", "0x1"], '--step_length: expected a decimal number like 3, 0.5 or 1e-3, got "0x1"'],
    ["-m 0", ["-m", "0"], "--max_iteration: expected at least 1 (iterations of BWR moves after the starting population is evaluated)"],
    ["--merge_params in weights mode", ["--merge_params", '{"normalize": false}'], "--merge_params: would be ignored: --mode auto runs weighted_average in weights mode, which moves whole adapters and merges nothing; drop --merge_params, or use --mode recipe to search the merge's weights"],
  ])("%s: one line naming the flag", async (_label, args, message) => {
    expect(await refused(args)).toEqual({ code: 2, lines: [`search: ${message}`], runs: 0 });
  });
});
