/*
 * `npm run bench:gpus -- --gpus 0,1 [--task mgsm_ja] [--population 20] [--questions 200] [--reps 3] [--zoo initial_experts] [--base HF_MODEL_FOLDER]`
 * Evaluation throughput of a search population on the first 1, 2, … of the listed GPUs, each GPU in its own
 * evaluation process exactly as `npm run search -- -g 0,1` runs them: candidates and questions per second,
 * the speed-up over one GPU, whether every GPU count scores the candidates identically, and (where nvidia-smi
 * exists) the GPU each evaluation process really runs on.
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { parseArgs } from "node:util";
import { parseGpus } from "../src/engine/search/cli-args";
import { searchConfigSchema } from "../src/engine/search/config";
import { prepareSearch } from "../src/engine/search/session";
import { rngKey, rngUniform } from "../src/engine/merge/rng";
import { serveGpuEvaluationsIfForked } from "../src/server/search/gpu-evaluator-process";
import { deviceInventory } from "../src/server/devices";
import { modelCacheRoot } from "../src/server/paths";
import { GpuEvaluatorPool } from "../src/server/search/gpu-pool";

await serveGpuEvaluationsIfForked();

const { values } = parseArgs({
  options: {
    gpus: { type: "string", default: "0,1" },
    zoo: { type: "string", default: "initial_experts" },
    // The base model: the zoo's (zoo/base) unless a Hugging Face model folder is given.
    base: { type: "string" },
    task: { type: "string", default: "mgsm_ja" },
    population: { type: "string", default: "20" },
    questions: { type: "string", default: "200" },
    reps: { type: "string", default: "3" },
  },
});
const config = searchConfigSchema.parse({
  name: "bench-gpus",
  evalType: "exact_match",
  dataset: values.task,
  gpus: parseGpus(values.gpus),
  devQuestions: Number(values.questions),
  initialExpertDirectory: values.zoo,
  baseModel: values.base ?? path.join(values.zoo, "base"),
});
const prepared = await prepareSearch(config, { gpus: (await deviceInventory()).gpus, modelCache: modelCacheRoot() });

// The experts, then seeded mixtures of two of them: what a search's population holds.
const experts = prepared.experts.map((expert) => expert.data);
const key = rngKey(7, 0);
const population = Array.from({ length: Number(values.population) }, (_, index) => {
  if (index < experts.length) return experts[index]!;
  const [a, b] = [experts[Math.floor(rngUniform(key, 3 * index) * experts.length)]!, experts[Math.floor(rngUniform(key, 3 * index + 1) * experts.length)]!];
  const w = rngUniform(key, 3 * index + 2);
  return a.map((value, at) => w * value + (1 - w) * b[at]!);
});

/** nvidia-smi's PCI address of the GPU each pid holds memory on (empty without nvidia-smi). */
function busOfPids(): Map<number, string> {
  try {
    const csv = execFileSync("nvidia-smi", ["--query-compute-apps=pid,gpu_bus_id", "--format=csv,noheader"], { encoding: "utf8" });
    const pairs = csv.trim().split("\n").map((line) => line.split(",").map((part) => part.trim()));
    return new Map(pairs.filter((pair) => pair.length === 2).map(([pid, bus]) => [Number(pid), bus!]));
  } catch {
    return new Map();
  }
}
const sameBus = (a: string, b: string) => a.toLowerCase().replace(/^0*(?=[0-9a-f]{4}:)/, "") === b.toLowerCase().replace(/^0*(?=[0-9a-f]{4}:)/, "");

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: Array<{ gpus: string; seconds: number; utilities: number[]; placement: string }> = [];
for (let count = 1; count <= prepared.gpus.length; count++) {
  const pool = GpuEvaluatorPool.start(prepared.gpus.slice(0, count), { environments: prepared.pinning.slice(0, count) });
  const evaluator = pool.evaluator(config);
  try {
    await evaluator.evaluate(population, "dev"); // warm-up: each process loads the model and compiles its kernels
    const buses = busOfPids();
    const placement = pool.processes
      .map(({ gpu, pid }) => {
        const seen = buses.get(pid!);
        return `GPU ${gpu.id} process ${pid}: ${seen === undefined ? "not seen by nvidia-smi" : sameBus(seen, gpu.pciBusId) ? `on ${seen} (its GPU)` : `on ${seen}, NOT its GPU ${gpu.pciBusId}`}`;
      })
      .join("; ");
    const seconds: number[] = [];
    let utilities: number[] = [];
    for (let rep = 0; rep < Number(values.reps); rep++) {
      const started = performance.now();
      utilities = (await evaluator.evaluate(population, "dev")).map((evaluation) => evaluation.utility);
      seconds.push((performance.now() - started) / 1000);
    }
    rows.push({ gpus: prepared.gpus.slice(0, count).map((gpu) => gpu.id).join(","), seconds: median(seconds), utilities, placement });
  } finally {
    await pool.close();
  }
}

const questions = population.length * config.devQuestions;
console.log(`task ${values.task}: ${population.length} candidates × ${config.devQuestions} dev questions per evaluation, median of ${values.reps}`);
for (const row of rows) {
  console.log(
    `  GPUs ${row.gpus}: ${row.seconds.toFixed(2)} s, ${(population.length / row.seconds).toFixed(2)} candidates/s, ${(questions / row.seconds).toFixed(0)} questions/s, ` +
      `${(rows[0]!.seconds / row.seconds).toFixed(2)}× one GPU; same utilities as one GPU: ${row.utilities.every((utility, index) => utility === rows[0]!.utilities[index]) ? "yes" : "NO"}`,
  );
  console.log(`    ${row.placement}`);
}
