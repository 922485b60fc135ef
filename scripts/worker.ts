/*
 * `npm run worker -- [--gpus cpu|0,1]`: runs searches queued from the dashboard (and evaluations of searches
 * running elsewhere) on this machine's devices. With DATABASE_URL it joins another host's database;
 * without, the embedded one of this checkout.
 */
import { parseArgs } from "node:util";
import { EnvError, parseServerEnv } from "../src/env";
import { createPrismaClient } from "../src/server/db/client";
import { openDatabase } from "../src/server/db/connection";
import { closeQueues } from "../src/server/queue/boss";
import { startSearchWorker } from "../src/server/queue/worker";
import { serveGpuEvaluationsIfForked } from "../src/server/search/gpu-evaluator-process";
import { GpuSelectionError, selectGpus } from "../src/engine/devices";
import { CliUsageError, parseGpus } from "../src/engine/search/cli-args";
import { deviceInventory } from "../src/server/devices";

await serveGpuEvaluationsIfForked();

const { values } = parseArgs({ options: { gpus: { type: "string", short: "g", default: "cpu" } } });
let gpus;
try {
  gpus = parseGpus(values.gpus);
  selectGpus(gpus, (await deviceInventory()).gpus);
} catch (error) {
  if (error instanceof CliUsageError) {
    console.error(`worker: ${error.message}`);
    process.exit(2);
  }
  if (!(error instanceof GpuSelectionError)) throw error;
  console.error(`worker: --gpus: ${error.message}`);
  process.exit(2);
}

let database;
try {
  database = await openDatabase(parseServerEnv());
} catch (error) {
  if (error instanceof EnvError) {
    console.error(`worker: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
const db = createPrismaClient(database.url);
const stop = await startSearchWorker({ db, databaseUrl: database.url, gpus, log: (line) => console.log(`worker: ${line}`) });
console.log(`worker: ready on ${values.gpus}`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    if (stopping) process.exit(130);
    stopping = true;
    await stop();
    await closeQueues();
    await db.$disconnect();
    await database.release();
    process.exit(0);
  });
}
