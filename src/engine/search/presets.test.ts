import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { CliUsageError, parseSearchArgs } from "./cli-args";
import { searchPresets } from "./presets";

/** `npm run demo`'s arguments, as the shell passes them (the name's clock time fixed). */
function demoArgs(): string[] {
  const script = (JSON.parse(fs.readFileSync("package.json", "utf8")) as { scripts: Record<string, string> }).scripts.demo!;
  return script.replace(/^.*scripts\/search\.ts /, "").replace("$(date +%Y%m%d-%H%M%S)", "20260101-000000").split(" ");
}

describe("search presets", () => {
  it("run `npm run demo`: the Japanese-math demo is written once, as a preset", () => {
    const explicit = ["-n", "demo-20260101-000000", "-e", "exact_match", "-d", "mgsm_ja", "--eval_params", '{"maxNewTokens": 16}', "--merge_method", "task_arithmetic"];
    const rest = ["--merge_params", '{"base_model_idx": null}', "--selection", "greedy", "--dev_questions", "40", "--test_questions", "200", "-m", "1"];
    expect(demoArgs()).toContain("--preset");
    expect(parseSearchArgs(demoArgs())).toEqual(parseSearchArgs([...explicit, ...rest]));
  });

  it("give way to the flags a user sets, wherever they stand", () => {
    expect(parseSearchArgs(["-m", "2", "--preset", "quick", "-n", "q"])).toMatchObject({ dataset: "gsm8k", devQuestions: 8, maxIteration: 2 });
    expect(parseSearchArgs(["--preset=quick", "-n", "q", "--dev_questions", "4"])).toMatchObject({ devQuestions: 4, testQuestions: 8 });
  });

  it("are each a config the CLI accepts, and an unknown one is named", () => {
    for (const preset of searchPresets) {
      // The BWR_model defaults preset names no objective; the rest are complete searches.
      const objective = preset.config.evalType ? [] : ["-e", "exact_match", "-d", "gsm8k"];
      expect(() => parseSearchArgs(["--preset", preset.id, "-n", "p", ...objective]), preset.id).not.toThrow();
    }
    expect(() => parseSearchArgs(["--preset", "fast", "-n", "p"])).toThrow(new CliUsageError('--preset: expected one of quick, bwr-defaults, ja-math, ja-math-full, got "fast"'));
    expect(() => parseSearchArgs(["-n", "p", "--preset"])).toThrow(/--preset: expected one of .*, got nothing/);
  });
});
