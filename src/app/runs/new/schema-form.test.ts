import { describe, expect, it } from "vitest";
import { paramsFromTexts, textsFromParams, toValue, type FieldSpec } from "./schema-form";

// Specs as form.spec serves them (task_arithmetic's base_model_idx, weights and lambda).
const baseModelIdx: FieldSpec = { key: "base_model_idx", kind: "json", defaultText: "null", hasDefault: true, nullable: true, help: "", min: 0 };
const weights: FieldSpec = { key: "weights", kind: "json", defaultText: "", hasDefault: false, nullable: false, help: "" };
const lambda: FieldSpec = { key: "lambda", kind: "number", defaultText: "1", hasDefault: true, nullable: false, help: "" };
const specs = [baseModelIdx, weights, lambda];

describe("the new-search form's inputs", () => {
  it("turns each kind of input text into the value its schema expects", () => {
    expect(toValue(lambda, " 0.5 ")).toBe(0.5);
    expect(toValue(lambda, "")).toBeUndefined();
    expect(() => toValue(lambda, "abc")).toThrow('expected a number, got "abc"');
    expect(toValue({ ...lambda, kind: "binary", defaultText: "1" }, "")).toBe(1);
    expect(toValue({ ...lambda, kind: "enum", options: ["a"], defaultText: "a" }, "")).toBeUndefined();
    expect(toValue(weights, "1, 0.5")).toEqual([1, 0.5]);
    expect(() => toValue(baseModelIdx, "{")).toThrow('expected a JSON value such as null, 0, got "{"');
  });

  it("reads nullable and list parameters as JSON, and round-trips a preset's JSON", () => {
    const texts = textsFromParams(specs, '{"base_model_idx": 1, "weights": [1, 0.5]}');
    expect(texts).toMatchObject({ base_model_idx: "1", weights: "[1,0.5]" });
    expect(paramsFromTexts(specs, { ...texts, weights: "1, 0.5" }).params).toEqual({ base_model_idx: 1, weights: [1, 0.5] });
    // null is the default (no expert is the base) and is left to it.
    expect(textsFromParams(specs, "{}")).toMatchObject({ base_model_idx: "null" });
    expect(paramsFromTexts(specs, { base_model_idx: "null" }).params).toEqual({});
    expect(paramsFromTexts(specs, { lambda: "abc" }).errors).toEqual({ lambda: 'expected a number, got "abc"' });
  });

});
