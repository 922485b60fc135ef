import { describe, expect, it } from "vitest";
import { importCycles, runtimeImportGraph } from "../tests/support/import-graph";

describe("the sources' import graph", () => {
  it("finds cycles, listing the files around each", () => {
    const graph = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", ["a.ts", "d.ts"]],
      ["d.ts", []],
      ["e.ts", ["e.ts"]],
    ]);
    expect(importCycles(graph)).toEqual([["a.ts", "b.ts", "c.ts", "a.ts"], ["e.ts", "e.ts"]]);
  });

  it("reads runtime imports of src/, \"@/\" ones included, and leaves type-only ones out", () => {
    const graph = runtimeImportGraph();
    expect(graph.get("src/server/search/launch.ts")).toEqual(expect.arrayContaining(["src/engine/search/session.ts", "src/server/queue/evaluation.ts"]));
    expect(graph.get("src/app/runs/new/page.tsx")).toEqual(expect.arrayContaining(["src/trpc/react.tsx"]));
    // run-store.ts imports SearchConfig as a type only.
    expect(graph.get("src/server/search/run-store.ts")).not.toContain("src/engine/search/config.ts");
  });

  it("has no import cycle in src/", () => {
    expect(importCycles(runtimeImportGraph())).toEqual([]);
  });
});
