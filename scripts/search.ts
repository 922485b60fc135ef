/*
 * `npm run search -- -n NAME -e EVAL_TYPE -d DATASET [BWR_model flags]` (-h lists them). Runs a BWR search
 * into search/NAME/ and the dashboard's database; started again with the same name, it resumes.
 */
import { parseServerEnv } from "../src/env";
import { parseSearchArgs, searchHelp } from "../src/engine/search/cli-args";
import type { IterationRecord } from "../src/engine/search/bwr";
import { createPrismaClient } from "../src/server/db/client";
import { openDatabase } from "../src/server/db/connection";
import { evaluationBudget, prepareSearch } from "../src/engine/search/session";
import { estimateEvaluation } from "../src/server/search/eval-estimate";
import { executeSearch } from "../src/server/search/launch";
import { userFacingMessage } from "../src/server/search/user-errors";
import { closeQueues } from "../src/server/queue/boss";
import { startEvaluationWorker } from "../src/server/queue/evaluation";
import { serveGpuEvaluationsIfForked } from "../src/server/search/gpu-evaluator-process";
import { deviceInventory } from "../src/server/devices";
import { modelCacheRoot } from "../src/server/paths";
import { GpuEvaluatorPool } from "../src/server/search/gpu-pool";
import { SearchInterruptedError } from "../src/server/search/run-lease";

await serveGpuEvaluationsIfForked();

function fail(message: string, code = 2): never {
  console.error(`search: ${message}`);
  process.exit(code);
}

/** One line for the user's errors; a bug keeps its stack for a report, and DEBUG=1 shows every stack. */
function failOn(error: unknown, code = 2): never {
  const message = userFacingMessage(error);
  if (message !== null && !process.env.DEBUG) fail(message, code);
  console.error(error);
  process.exit(message === null ? 1 : code);
}

const argv = process.argv.slice(2);
if (argv.includes("-h") || argv.includes("--help")) {
  console.log(searchHelp());
  process.exit(0);
}

let config;
let prepared;
try {
  config = parseSearchArgs(argv);
  prepared = await prepareSearch(config, { gpus: (await deviceInventory()).gpus, modelCache: modelCacheRoot() });
} catch (error) {
  failOn(error);
}

let database;
try {
  database = await openDatabase(parseServerEnv());
} catch (error) {
  failOn(error, 1);
}
const db = createPrismaClient(database.url);
const budget = evaluationBudget(prepared);
console.error(
  `search ${config.name}: ${budget.population} candidates × ≤${config.maxIteration} iterations on ${prepared.gpus.length === 0 ? "the CPU" : prepared.gpus.map((gpu) => `GPU ${gpu.id} (${gpu.name})`).join(", ")}; ` +
    `${budget.devQuestions} dev questions per evaluation (at most ${budget.evaluations} evaluations, ${budget.questions.toLocaleString("en")} questions)`,
);

const started = Date.now();
const interactive = process.stderr.isTTY;
function progress(record: IterationRecord) {
  const done = record.index;
  const total = config!.maxIteration;
  const perIteration = done > 0 ? (Date.now() - started) / 1000 / done : 0;
  const width = 24;
  const filled = Math.round((done / Math.max(1, total)) * width);
  const bar = `${"█".repeat(filled)}${" ".repeat(width - filled)}`;
  const eta = perIteration ? `ETA ≤ ${Math.ceil((perIteration * (total - done)) / 60)} min` : "";
  const line = `iteration ${String(done).padStart(String(total).length)}/${total} ▕${bar}▏ best ${record.state.best.toFixed(4)} worst ${record.state.worst.toFixed(4)} ${perIteration ? `${perIteration.toFixed(1)} s/it` : ""} ${eta}`;
  if (interactive) process.stderr.write(`\r${line}\x1b[K`);
  else console.error(line);
}

// The stop is this process's own: it holds even before the run's row exists, and needs no database round trip.
const stop = new AbortController();
process.on("SIGINT", () => {
  if (stop.signal.aborted) process.exit(130);
  console.error("\nstopping after this iteration (Ctrl-C again to quit now; the run can be resumed either way)");
  stop.abort();
});

const gpuPool = prepared.gpus.length > 0 ? GpuEvaluatorPool.start(prepared.gpus, { environments: prepared.pinning }) : undefined;
// A distributed search evaluates through the queue; this process takes its share like any worker.
const evaluation = config.distributed === 1 ? await startEvaluationWorker({ db, databaseUrl: database.url, gpus: config.gpus, gpuPool }) : undefined;
let failure: { error: unknown } | undefined;
try {
  // From this database's earlier runs, as the dashboard's budget panel shows it.
  console.error(`search ${config.name}: time per evaluation: ${(await estimateEvaluation(db, config, budget.devQuestions)).line}`);
  const result = await executeSearch(db, database.url, prepared, { origin: "cli", onIteration: progress, gpuPool, stop: stop.signal });
  if (interactive) process.stderr.write("\n");
  if (result.status === "cancelled") {
    console.error(`search ${config.name}: stopped; run the same command again to resume`);
  } else {
    for (const [key, value] of Object.entries(result.metrics!)) console.log(`${key}: ${value}`);
    console.log(`global best adapter: ${result.folder}/global_best`);
  }
} catch (error) {
  if (interactive) process.stderr.write("\n");
  failure = { error };
} finally {
  await evaluation?.stop();
  await gpuPool?.close();
  await closeQueues();
  await db.$disconnect();
  await database.release();
}
// Reported once the evaluation processes and the database are let go.
// A search cut off from its database (or its lease) ended cleanly and can be resumed: not a usage error.
if (failure) failOn(failure.error, failure.error instanceof SearchInterruptedError ? 1 : 2);
