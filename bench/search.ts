/*
 * `npm run bench:search -- [--quick] [--objectives mgsm_ja,multitask,nlgraph] [--optimizers bwr,bwr-model,bwr-greedy,random]
 *   [--seeds 5] [--evaluations 200] [--dev_questions 100] [--test_questions 0] [--device cpu|cuda|webgpu]
 *   [--precision fp32|fp16] [--parallel N] [--out docs/search-bench] [--data .] [--redraw]`
 *
 * Every optimizer × objective × seed at the same budget of dev evaluations, through the engine alone (no dashboard,
 * no database). Each run's raw result goes to OUT/runs/OBJECTIVE/OPTIMIZER/seed-N.json and is reused when the bench
 * runs again with the same settings, so an interrupted sweep continues; then OUT/results.md (printed too) and one
 * OUT/OBJECTIVE.svg of best-so-far curves per objective. --redraw only redraws them from the runs' JSON.
 * --parallel N runs N searches at once, each in a child process of this script (it stays one file for a bundle).
 * --precision overrides the device's (a GPU computes the zoo's float16 weights in float16; fp32 grades as the CPU does).
 * --data is the folder holding initial_experts/ and data/eval/ (default: the current one).
 */
import { fork } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { parseEvalDevice, type EvalDevice } from "../src/engine/eval/onnx";
import { PRECISIONS } from "../src/engine/model/graph-builder";
import { configOf, OBJECTIVES, OPTIMIZERS, runOne, settingsOf, type ObjectiveId, type OptimizerId, type RunSpec, type Settings, type StoredRun } from "./search-run";
import { curveBand, resultsTable, summarize } from "./search-stats";
import { bestSoFarSvg, SERIES_COLORS } from "./search-svg";

// --quick checks the whole sweep end to end in a few minutes on a 2-core CPU; its numbers are too noisy to compare.
const QUICK = { seeds: "2", evaluations: "24", dev_questions: "16", test_questions: "32", out: "docs/search-bench/quick" };
const FULL = { seeds: "5", evaluations: "200", dev_questions: "100", test_questions: "0", out: "docs/search-bench" };

function fail(message: string): never {
  console.error(`bench:search: ${message}`);
  process.exit(2);
}

function choices<T extends string>(flag: string, value: string, table: Record<T, unknown>): T[] {
  const names = value.split(",").map((name) => name.trim()).filter(Boolean);
  const unknown = names.filter((name) => !Object.hasOwn(table, name));
  if (names.length === 0 || unknown.length > 0) fail(`${flag}: expected a comma-separated list of ${Object.keys(table).join(", ")}${unknown.length ? `, got ${unknown.join(", ")}` : ""}`);
  return names as T[];
}

function count(flag: string, value: string, { min }: { min: number }): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < min) fail(`${flag}: expected a whole number of at least ${min}, got "${value}"`);
  return number;
}

function resultFile(out: string, spec: Pick<RunSpec, "objective" | "optimizer" | "seed">) {
  return path.join(out, "runs", spec.objective, spec.optimizer, `seed-${spec.seed}.json`);
}

function reusable(file: string, settings: Settings): StoredRun | undefined {
  if (!fs.existsSync(file)) return undefined;
  const stored = JSON.parse(fs.readFileSync(file, "utf8")) as StoredRun;
  return JSON.stringify(stored.settings) === JSON.stringify(settings) ? stored : undefined;
}

function store(file: string, run: StoredRun) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(run)}\n`);
}

const describe = (spec: RunSpec) => `${spec.objective} × ${spec.optimizer} × seed ${spec.seed}`;
const line = (run: StoredRun, spec: RunSpec) =>
  `${describe(spec)}: dev ${(run.dev * 100).toFixed(1)}%, test ${(run.test * 100).toFixed(1)}%, ${run.evaluations} evaluations, ${(run.wallMs / 1000).toFixed(0)} s`;

// A child process of --parallel: runs the specs its parent sends, one at a time, and answers each with its result.
if (process.env.BENCH_SEARCH_CHILD === "1") {
  process.on("message", (spec: RunSpec) => {
    runOne(spec, OPTIMIZERS[spec.optimizer]).then(
      (run) => process.send!({ run }),
      (error: unknown) => process.send!({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    );
  });
} else {
  await main();
}

async function runInChildren(specs: readonly RunSpec[], parallel: number, done: (spec: RunSpec, run: StoredRun) => void) {
  const queue = [...specs];
  const children = new Set<ReturnType<typeof fork>>();
  const worker = () =>
    new Promise<void>((resolve, reject) => {
      const child = fork(process.argv[1]!, [], { env: { ...process.env, BENCH_SEARCH_CHILD: "1" }, stdio: ["ignore", "inherit", "inherit", "ipc"] });
      children.add(child);
      let current: RunSpec | undefined;
      const next = () => {
        current = queue.shift();
        if (current) child.send(current);
        else child.disconnect();
      };
      child.on("message", (message: { run?: StoredRun; error?: string }) => {
        if (message.error) {
          reject(new Error(`${describe(current!)}: ${message.error}`));
          return;
        }
        done(current!, message.run!);
        next();
      });
      child.on("exit", (code) => (current && code !== 0 ? reject(new Error(`${describe(current)}: the child process exited with ${code}`)) : resolve()));
      next();
    });
  try {
    await Promise.all(Array.from({ length: Math.min(parallel, specs.length) }, worker));
  } finally {
    // One failed run ends the sweep; the others' finished results are already stored.
    for (const child of children) if (child.exitCode === null) child.kill();
  }
}

function writeReport(out: string, runs: readonly StoredRun[], objectives: readonly ObjectiveId[], optimizers: readonly OptimizerId[], note: string) {
  const summaries = summarize(runs);
  const table = resultsTable(summaries, { optimizer: (id) => OPTIMIZERS[id as OptimizerId].label, objective: (id) => OBJECTIVES[id as ObjectiveId].label });
  const pictures = objectives.map((objective) => {
    const ofObjective = runs.filter((run) => run.objective === objective);
    const series = optimizers
      .map((optimizer, index) => ({ optimizer, index, curves: ofObjective.filter((run) => run.optimizer === optimizer).map((run) => run.curve) }))
      .filter(({ curves }) => curves.length > 0)
      .map(({ optimizer, index, curves }) => ({ label: OPTIMIZERS[optimizer].label, color: SERIES_COLORS[index % SERIES_COLORS.length]!, band: curveBand(curves) }));
    const xMax = Math.max(...ofObjective.map((run) => run.budget));
    const file = `${objective}.svg`;
    fs.writeFileSync(path.join(out, file), bestSoFarSvg({ title: `${OBJECTIVES[objective].label}: best dev utility so far`, xLabel: "candidate evaluations", yLabel: "dev utility", xMax, series }));
    return `![${objective}](${file})`;
  });
  const markdown = [`# Search bench`, "", note, "", table, "", ...pictures, ""].join("\n");
  fs.writeFileSync(path.join(out, "results.md"), markdown);
  console.log(`\n${table}\n\nwritten: ${path.join(out, "results.md")}, ${objectives.map((objective) => path.join(out, `${objective}.svg`)).join(", ")}`);
}

async function main() {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      objectives: { type: "string", default: Object.keys(OBJECTIVES).join(",") },
      optimizers: { type: "string", default: Object.keys(OPTIMIZERS).join(",") },
      seeds: { type: "string" },
      evaluations: { type: "string" },
      dev_questions: { type: "string" },
      test_questions: { type: "string" },
      device: { type: "string", default: "cpu" },
      precision: { type: "string" },
      parallel: { type: "string", default: "1" },
      out: { type: "string" },
      data: { type: "string", default: "." },
      redraw: { type: "boolean", default: false },
    },
  });
  const defaults = values.quick ? QUICK : FULL;
  const objectives = choices("--objectives", values.objectives, OBJECTIVES);
  const optimizers = choices("--optimizers", values.optimizers, OPTIMIZERS);
  const seeds = count("--seeds", values.seeds ?? defaults.seeds, { min: 1 });
  const budget = count("--evaluations", values.evaluations ?? defaults.evaluations, { min: 2 });
  const devQuestions = count("--dev_questions", values.dev_questions ?? defaults.dev_questions, { min: 1 });
  const testQuestions = count("--test_questions", values.test_questions ?? defaults.test_questions, { min: 0 });
  const parallel = count("--parallel", values.parallel, { min: 1 });
  let device: EvalDevice;
  try {
    device = parseEvalDevice(values.device);
  } catch (error) {
    fail(`--device: ${(error as Error).message}`);
  }
  const precision = values.precision === undefined ? undefined : PRECISIONS.find((name) => name === values.precision);
  if (values.precision !== undefined && !precision) fail(`--precision: expected one of ${PRECISIONS.join(", ")}, got "${values.precision}"`);
  const out = path.resolve(values.out ?? defaults.out);
  const data = path.resolve(values.data);
  if (!fs.existsSync(path.join(data, "initial_experts")) || !fs.existsSync(path.join(data, "data/eval"))) fail(`--data: expected a folder holding initial_experts/ and data/eval/, got ${data}`);
  fs.mkdirSync(out, { recursive: true });

  const specs: RunSpec[] = objectives.flatMap((objective) =>
    optimizers.flatMap((optimizer) => Array.from({ length: seeds }, (_, seed) => ({ objective, optimizer, seed: seed + 1, budget, devQuestions, testQuestions, device, precision, data }))),
  );
  const results = new Map<RunSpec, StoredRun>();
  const pending: RunSpec[] = [];
  for (const spec of specs) {
    const file = resultFile(out, spec);
    const earlier = values.redraw ? (fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as StoredRun) : undefined) : reusable(file, settingsOf(spec, configOf(spec, OPTIMIZERS[spec.optimizer])));
    if (earlier) results.set(spec, earlier);
    else if (!values.redraw) pending.push(spec);
  }
  if (values.redraw && results.size === 0) fail(`--redraw: no run results under ${path.join(out, "runs")}`);
  console.error(`bench:search: ${specs.length} runs (${results.size} reused, ${pending.length} to run) at ${budget} evaluations of ${devQuestions} dev questions, on ${device}${parallel > 1 ? `, ${parallel} at once` : ""}`);

  const started = performance.now();
  const done = (spec: RunSpec, run: StoredRun) => {
    store(resultFile(out, spec), run);
    results.set(spec, run);
    console.error(line(run, spec));
  };
  if (parallel === 1) for (const spec of pending) done(spec, await runOne(spec, OPTIMIZERS[spec.optimizer]));
  else await runInChildren(pending, parallel, done);

  const testText = testQuestions === 0 ? "all test questions" : `the first ${testQuestions} test questions`;
  const note =
    `Each optimizer × objective × seed (${seeds} seeds) searched task-arithmetic recipes of the zoo's experts with at most ${budget} candidate evaluations ` +
    `of ${devQuestions} dev questions; the ending best was measured on ${testText}. Measured on ${device}${precision ? ` in ${precision}` : ""}` +
    `${pending.length > 0 ? ` in ${((performance.now() - started) / 60_000).toFixed(1)} min, ${parallel} run${parallel === 1 ? "" : "s"} at a time` : ""}. ` +
    "Raw runs (best-so-far arrays): runs/OBJECTIVE/OPTIMIZER/seed-N.json.";
  // In the order asked for (objective, optimizer, seed), whichever runs were reused.
  writeReport(out, specs.flatMap((spec) => results.get(spec) ?? []), objectives, optimizers, note);
}
