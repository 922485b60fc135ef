import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

/*
 * The runtime import graph of the project's sources, read with TypeScript's own parser and module resolver (so
 * "@/" paths resolve as tsconfig says). Type-only imports are left out: the compiler erases them, so they can
 * neither load a module nor close a cycle.
 */

const root = path.resolve(import.meta.dirname, "../..");

function compilerOptions(): ts.CompilerOptions {
  const file = ts.findConfigFile(root, ts.sys.fileExists, "tsconfig.json")!;
  return ts.parseJsonConfigFileContent(ts.readConfigFile(file, ts.sys.readFile).config, ts.sys, root).options;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "generated" ? [] : sourceFiles(full);
    return /\.tsx?$/.test(entry.name) && !/\.(test|d)\.tsx?$/.test(entry.name) ? [full] : [];
  });
}

/** Whether an import or export declaration loads its module at run time. */
function loadsAtRuntime(node: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isExportDeclaration(node)) return !node.isTypeOnly && !(node.exportClause && ts.isNamedExports(node.exportClause) && node.exportClause.elements.length > 0 && node.exportClause.elements.every((element) => element.isTypeOnly));
  const clause = node.importClause;
  if (!clause) return true;
  if (clause.isTypeOnly) return false;
  if (clause.name) return true;
  const bindings = clause.namedBindings;
  if (!bindings || ts.isNamespaceImport(bindings)) return true;
  return bindings.elements.length === 0 || bindings.elements.some((element) => !element.isTypeOnly);
}

/** The specifiers a module loads at run time (values, re-exports, dynamic imports; not types). */
export function runtimeSpecifiers(file: string, text = fs.readFileSync(file, "utf8")): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith(".tsx") ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const specifiers: string[] = [];
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier) && loadsAtRuntime(node)) {
      specifiers.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      specifiers.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specifiers;
}

/** Each source file under `dir` (tests excluded) and the files under `dir` it loads at run time, paths relative to the root. */
export function runtimeImportGraph(dir = path.join(root, "src")): Map<string, string[]> {
  const options = compilerOptions();
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(dir)) {
    const targets = runtimeSpecifiers(file)
      .map((specifier) => ts.resolveModuleName(specifier, file, options, ts.sys).resolvedModule?.resolvedFileName)
      .filter((target): target is string => !!target && !target.includes("node_modules") && target.startsWith(dir + path.sep))
      .map((target) => path.relative(root, target));
    graph.set(path.relative(root, file), [...new Set(targets)]);
  }
  return graph;
}

/** Every import cycle, each as the files around it (the first file repeated at the end). */
export function importCycles(graph: Map<string, string[]>): string[][] {
  // Tarjan's strongly connected components: a component of two or more files (or one importing itself) holds a cycle.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const connect = (file: string) => {
    index.set(file, counter);
    low.set(file, counter);
    counter += 1;
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!index.has(target)) {
        connect(target);
        low.set(file, Math.min(low.get(file)!, low.get(target)!));
      } else if (onStack.has(target)) low.set(file, Math.min(low.get(file)!, index.get(target)!));
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || (graph.get(file) ?? []).includes(file)) components.push(component);
  };
  for (const file of [...graph.keys()].sort()) if (!index.has(file)) connect(file);
  return components.map((component) => cycleWithin(graph, new Set(component)));
}

/** One cycle through a component's files, found by walking from its first file (sorted) back to it. */
function cycleWithin(graph: Map<string, string[]>, component: Set<string>): string[] {
  const start = [...component].sort()[0]!;
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift()!;
    for (const target of graph.get(file) ?? []) {
      if (!component.has(target)) continue;
      if (target === start) {
        const cycle = [start];
        for (let at = file; at !== start; at = previous.get(at)!) cycle.splice(1, 0, at);
        return [...cycle, start];
      }
      if (!previous.has(target)) {
        previous.set(target, file);
        queue.push(target);
      }
    }
  }
  return [start, start];
}

/** For each root that reaches a file `forbidden` accepts, the shortest chain of imports from it to the first such file. */
export function forbiddenImportChains(graph: Map<string, string[]>, roots: readonly string[], forbidden: (file: string) => boolean): string[][] {
  return roots.flatMap((root) => {
    const previous = new Map<string, string | null>([[root, null]]);
    const queue = [root];
    while (queue.length > 0) {
      const file = queue.shift()!;
      if (forbidden(file)) {
        const chain = [file];
        for (let at = previous.get(file); at != null; at = previous.get(at)) chain.unshift(at);
        return [chain];
      }
      for (const target of graph.get(file) ?? []) {
        if (previous.has(target)) continue;
        previous.set(target, file);
        queue.push(target);
      }
    }
    return [];
  });
}
