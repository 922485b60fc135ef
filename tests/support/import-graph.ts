import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

/*
 * The runtime import graph of the project's TypeScript sources, as a bundler follows it: relative specifiers and
 * the "@/…" alias (tsconfig's paths: src/…), static imports, re-exports and dynamic import(). `import type`,
 * `export type` and imports whose every name is a type are erased when compiled, so they are no edges; packages
 * are not followed.
 */

const EXTENSIONS = [".ts", ".tsx", "/index.ts", "/index.tsx"];

/** The source file a specifier names, or null for a package or a file that is not TypeScript (CSS, JSON). */
export function resolveImport(specifier: string, fromFile: string, projectRoot: string): string | null {
  const base = specifier.startsWith("@/") ? path.join(projectRoot, "src", specifier.slice(2)) : specifier.startsWith(".") ? path.resolve(path.dirname(fromFile), specifier) : null;
  if (base === null) return null;
  if (/\.tsx?$/.test(base) && fs.existsSync(base)) return base;
  for (const extension of EXTENSIONS) if (fs.existsSync(base + extension)) return base + extension;
  return null;
}

function onlyTypes(clause: ts.ImportClause | undefined): boolean {
  if (!clause) return false;
  if (clause.isTypeOnly) return true;
  const bindings = clause.namedBindings;
  return !clause.name && bindings !== undefined && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((element) => element.isTypeOnly);
}

/** The specifiers a module imports at runtime. */
export function runtimeSpecifiers(file: string, text = fs.readFileSync(file, "utf8")): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith(".tsx") ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const specifiers: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier) && !onlyTypes(node.importClause)) specifiers.push(node.moduleSpecifier.text);
    else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier) && !node.isTypeOnly) {
      const clause = node.exportClause;
      const allTypes = clause !== undefined && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((element) => element.isTypeOnly);
      if (!allTypes) specifiers.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      specifiers.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specifiers;
}

/** The project's source files a module imports at runtime. */
export function runtimeImports(file: string, projectRoot: string): string[] {
  return runtimeSpecifiers(file).flatMap((specifier) => resolveImport(specifier, file, projectRoot) ?? []);
}

/** Every .ts/.tsx file under `folder`, test files left out. */
export function sourceFiles(folder: string): string[] {
  return fs
    .readdirSync(folder, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.tsx?$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name))
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort();
}

/**
 * For each file matching `forbidden` that the roots reach at runtime, the shortest chain of imports from a root
 * to it (project-relative paths); the walk does not go on past a forbidden file.
 */
export function forbiddenImportChains(roots: readonly string[], forbidden: (file: string) => boolean, projectRoot: string): string[][] {
  const previous = new Map<string, string | null>(roots.map((root) => [root, null]));
  const queue = [...roots];
  const reached: string[] = [];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (forbidden(file)) {
      reached.push(file);
      continue;
    }
    for (const imported of runtimeImports(file, projectRoot)) {
      if (previous.has(imported)) continue;
      previous.set(imported, file);
      queue.push(imported);
    }
  }
  return reached.map((file) => {
    const chain: string[] = [];
    for (let at: string | null | undefined = file; at; at = previous.get(at)) chain.unshift(path.relative(projectRoot, at));
    return chain;
  });
}
