// Merges PEFT LoRA adapter folders with one of the registered methods and writes a PEFT adapter folder.
// Accepts BWR_model's flags:
//   node --import tsx scripts/merge-adapters.ts --merge_method ties --merge_params '{"threshold": 0.01}' \
//        --out merged/ expertA/ expertB/ [--device cpu|cuda:0] [--dtype F32|F16|BF16]
// `--list` prints the methods and the JSON Schema of their parameters.
import { parseArgs } from "node:util";
import { openDevice } from "../src/engine/merge/device";
import { MERGE_METHODS, MERGE_METHOD_NAMES, mergeMethodJsonSchemas, planMerge } from "../src/engine/merge/registry";
import type { DType } from "../src/engine/tensors/dtype";
import { loadExperts, savePeftAdapter } from "../src/engine/tensors/peft";

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      merge_method: { type: "string", default: "weighted_average" },
      merge_params: { type: "string", default: "{}" },
      out: { type: "string" },
      device: { type: "string", default: "cpu" },
      dtype: { type: "string" },
      list: { type: "boolean", default: false },
    },
  });
  if (values.list) {
    const schemas = mergeMethodJsonSchemas();
    for (const n of MERGE_METHOD_NAMES) console.log(`${n}: ${MERGE_METHODS[n].description}\n  paper: ${MERGE_METHODS[n].paper.url}\n  params: ${JSON.stringify(schemas[n])}\n`);
    return;
  }
  if (!values.out || positionals.length === 0) throw new Error("usage: merge-adapters.ts --merge_method M [--merge_params JSON] --out DIR EXPERT_DIR...");
  const { plan, params } = planMerge(values.merge_method!, values.merge_params!, positionals.length);
  const { layout, experts } = await loadExperts(positionals);
  const dev = openDevice(values.device!);
  const models = await Promise.all(experts.map((e) => dev.upload(e.data)));
  const t0 = performance.now();
  const merged = await dev.mergePlan(plan, models, layout);
  const data = await merged.download();
  const ms = performance.now() - t0;
  const first = experts[0]!;
  await savePeftAdapter(values.out, {
    config: first.config,
    layout,
    data,
    dtype: (values.dtype as DType | undefined) ?? first.dtypes,
    metadata: { ...(first.metadata ?? {}), format: "pt", merge_method: values.merge_method!, merge_params: JSON.stringify(params) },
  });
  console.log(`merged ${positionals.length} adapters with ${values.merge_method} ${JSON.stringify(params)} on ${dev.name} (${dev.description}) in ${ms.toFixed(1)} ms -> ${values.out}`);
}

main().catch((e) => {
  console.error(`merge-adapters: ${(e as Error).message}`);
  process.exit(1);
});
