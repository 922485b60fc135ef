import { describe, expect, it } from "vitest";
import { forbiddenImportChains, runtimeImportGraph, runtimeSpecifiers } from "../../tests/support/import-graph";

const graph = runtimeImportGraph();
// Route handlers (src/app/api) run on the server only: they adapt the server's code, as tRPC's handler does.
const pages = [...graph.keys()].filter((file) => file.startsWith("src/app/") && !file.startsWith("src/app/api/"));
const serverSide = (file: string) => file.startsWith("src/engine/") || file.startsWith("src/server/");

describe("the dashboard's pages", () => {
  it("import nothing of the engine or the server at runtime: they speak tRPC", () => {
    expect(pages.length).toBeGreaterThan(5);
    const chains = forbiddenImportChains(graph, pages, serverSide).map((chain) => chain.join(" → "));
    expect(chains).toEqual([]);
  });
});

describe("the import graph", () => {
  it("counts what stays after compilation: values, re-exports and dynamic imports, not types", () => {
    const module = [
      'import { value } from "./value";',
      'import { type Mixed, mixed } from "./mixed";',
      'import type { OnlyType } from "./only-type";',
      'import { type NamedType } from "./named-types";',
      'import "./side-effect.css";',
      'export { reexported } from "./reexported";',
      'export type { ExportedType } from "./exported-type";',
      'export { type NamedExportedType } from "./named-exported-type";',
      'export const lazy = () => import("./lazy");',
    ].join("\n");
    expect(runtimeSpecifiers("module.ts", module)).toEqual(["./value", "./mixed", "./side-effect.css", "./reexported", "./lazy"]);
  });
});
