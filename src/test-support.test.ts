import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import * as merge from "./engine/merge";

/*
 * src/ is the product: what only tests (or benchmarks) need lives in tests/support/ or bench/, so the library
 * neither ships nor exports it.
 */

function sourceFiles(folder: string): string[] {
  return fs
    .readdirSync(folder, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? sourceFiles(path.join(folder, entry.name)) : [path.join(folder, entry.name)]))
    .filter((file) => /\.(tsx?|mjs)$/.test(file) && !/\.test\.tsx?$/.test(file));
}

/** The modules a file imports, as paths relative to the checkout (with and without extension: the caller matches). */
function importedModules(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  return [...text.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].flatMap(([, specifier]) => {
    if (!specifier!.startsWith(".") && !specifier!.startsWith("@/")) return [];
    const target = specifier!.startsWith("@/") ? path.join("src", specifier!.slice(2)) : path.join(path.dirname(file), specifier!);
    return [target, `${target}.ts`, `${target}.tsx`, path.join(target, "index.ts")].map((candidate) => path.normalize(candidate));
  });
}

/** Next.js loads these by their place in src/app (and src/proxy.ts), not by import. */
const isNextEntry = (file: string) => file === path.join("src", "proxy.ts") || /^src\/app\/(.*\/)?(page|layout|route)\.tsx?$/.test(file);


describe("the library holds no test support", () => {
  it("has no module that only tests use", () => {
    const library = sourceFiles("src").filter((file) => !file.includes(`${path.sep}generated${path.sep}`));
    const used = new Set([...library, ...sourceFiles("scripts"), ...sourceFiles("bench")].flatMap(importedModules));
    expect(library.filter((file) => !used.has(file) && !isNextEntry(file))).toEqual([]);
  });

  it("exports no test helpers from the merge library", () => {
    for (const helper of ["CHECK_CASES", "checkDevice", "checkLayout", "randomTensors", "nearlyCancellingTensors", "relError"]) expect(merge).not.toHaveProperty(helper);
  });
});
