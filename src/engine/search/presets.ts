import type { SearchConfigInput } from "./config";

/*
 * Named starting points for a search, shared by the dashboard's preset buttons and the CLI's --preset (which
 * `npm run demo` runs): a preset's values replace the defaults, and whatever the user sets replaces those.
 */

export interface SearchPreset {
  id: string;
  label: string;
  description: string;
  /** Where runs are written, and the run's name, are never a preset's. */
  config: Partial<Omit<SearchConfigInput, "name" | "outputRoot">>;
}

/** The Japanese-math story: task-arithmetic weights of the experts (recipe mode), greedy selection. */
const japaneseMathSearch = {
  evalType: "exact_match",
  dataset: "mgsm_ja",
  evalParams: { maxNewTokens: 16 },
  mergeMethod: "task_arithmetic",
  mergeParams: { base_model_idx: null },
  selection: "greedy",
} as const;

export const searchPresets: readonly SearchPreset[] = [
  {
    id: "quick",
    label: "Quick demo",
    description: "gsm8k, 8 dev / 8 test questions, 3 iterations, answers up to 16 tokens: under a minute on a CPU",
    config: { evalType: "exact_match", dataset: "gsm8k", evalParams: { maxNewTokens: 16 }, devQuestions: 8, testQuestions: 8, maxIteration: 3 },
  },
  {
    id: "bwr-defaults",
    label: "BWR_model defaults",
    description: "BWR_model's defaults for every hyperparameter (weighted_average, step 1, patience 10, 200 iterations)",
    config: {},
  },
  {
    id: "ja-math",
    label: "Japanese math demo",
    description: "npm run demo: mgsm_ja, task arithmetic over per-expert coefficients (recipe mode) from every expert and every pair, greedy selection, 40 dev questions, 1 iteration",
    config: { ...japaneseMathSearch, devQuestions: 40, testQuestions: 200, maxIteration: 1 },
  },
  {
    id: "ja-math-full",
    label: "Japanese math (README)",
    description: "The README's search: mgsm_ja, task arithmetic recipe from every expert and every pair of experts, greedy, 100 dev questions, 30 iterations, patience 10",
    config: { ...japaneseMathSearch, initialPopulation: "pairs", devQuestions: 100, maxIteration: 30, patience: 10 },
  },
];

export function findPreset(id: string): SearchPreset | undefined {
  return searchPresets.find((preset) => preset.id === id);
}
