import { describe, expect, it } from "vitest";
import { utilityAxisOf } from "./run-data";

describe("utilityAxisOf", () => {
  it("fixes the axis for accuracies, and not for utilities that can leave 0–1", () => {
    expect(utilityAxisOf("exact_match", {})).toEqual({ metric: "accuracy", accuracy: true });
    expect(utilityAxisOf("exact_match_language", {})).toEqual({ metric: "acc_ja", accuracy: true });
    expect(utilityAxisOf("multiple_choice", {})).toEqual({ metric: "accuracy", accuracy: true });
    expect(utilityAxisOf("length_aware", {})).toEqual({ metric: "length_aware_utility", accuracy: false });
    expect(utilityAxisOf("external_api", {})).toEqual({ metric: "mean_score", accuracy: false });
    expect(utilityAxisOf("no_such_type", {})).toEqual({ metric: "utility", accuracy: false });
    expect(utilityAxisOf("perplexity", {})).toEqual({ metric: "perplexity (lower is better)", accuracy: false });
  });

  it("takes a multitask's harmonic mean as an accuracy only when every component is one", () => {
    const tasks = (...types: string[]) => ({ tasks: types.map((evalType) => ({ evalType, dataset: "d" })) });
    expect(utilityAxisOf("multitask", tasks("exact_match", "multiple_choice"))).toEqual({ metric: "harmonic mean", accuracy: true });
    expect(utilityAxisOf("multitask", tasks("exact_match", "length_aware"))).toEqual({ metric: "harmonic mean", accuracy: false });
  });
});
