import { describe, expect, it } from "vitest";
import { parseSearchArgs } from "../../engine/search/cli-args";
import { settingsDiff } from "./settings-diff";

const config = (...args: string[]) => JSON.parse(JSON.stringify(parseSearchArgs(["-n", "run", "-e", "exact_match", "-d", "gsm8k", ...args]))) as Record<string, unknown>;
const differing = (rows: ReturnType<typeof settingsDiff>) => rows.filter((entry) => entry.differs).map((entry) => entry.key);

describe("settingsDiff", () => {
  it("compares parsed values: JSON text, spacing, key order and an implicit default do not differ", () => {
    const stored = config("--eval_params", '{"maxNewTokens":16}');
    // A config recorded with the parameters as the CLI's text, its keys in another order, a default left out.
    const { mode: _implicitDefault, ...reordered } = Object.fromEntries(Object.entries(stored).reverse());
    const asText = { ...reordered, evalParams: '{"maxNewTokens": 16}' };
    const rows = settingsDiff([
      { config: stored, populationSize: 4 },
      { config: asText, populationSize: 4 },
    ]);
    expect(differing(rows)).toEqual([]);
    expect(rows.find((entry) => entry.key === "evalParams")!.shown[0]).toContain('"maxNewTokens":16');
  });

  it("shows a real difference, and the derived ones: mode and population size", () => {
    const rows = settingsDiff([
      { config: config("--merge_method", "weighted_average", "--eval_params", '{"maxNewTokens": 16}'), populationSize: 4 },
      { config: config("--merge_method", "ties", "--eval_params", '{"maxNewTokens": 8}', "--populate_initial_experts", "1", "--initial_experts_num", "6"), populationSize: 6 },
    ]);
    // Selection is auto in both: replace in weights mode, greedy in recipe mode.
    expect(differing(rows)).toEqual(["mode", "population size", "evalParams", "initialExpertsNum", "mergeMethod", "mergeParams", "populateInitialExperts", "selection"]);
    expect(rows.slice(0, 2)).toEqual([
      { key: "mode", derived: true, shown: ["weights", "recipe"], differs: true },
      { key: "population size", derived: true, shown: ["4", "6"], differs: true },
    ]);
  });

  it("compares a config the schema refuses as stored, instead of failing", () => {
    const rows = settingsDiff([
      { config: { evalParams: '{"maxNewTokens": 16}', retired: 1 }, populationSize: null },
      { config: { evalParams: { maxNewTokens: 16 } }, populationSize: null },
    ]);
    expect(differing(rows)).toEqual(["retired"]);
    expect(rows.find((entry) => entry.key === "population size")!.shown).toEqual(["—", "—"]);
  });
});
