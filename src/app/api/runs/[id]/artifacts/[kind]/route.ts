import fs from "node:fs";
import path from "node:path";
import { serverDb } from "@/server/db/client";
import { realPathInside } from "@/server/readable-paths";
import { zipStore } from "../../../../zip";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const KINDS = ["global_best", "global_worst"] as const;
type Kind = (typeof KINDS)[number];

function problem(status: number, message: string) {
  return new Response(`${message}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

function readme(run: { name: string; id: string; mergeMethod: string; dataset: string; evalType: string; config: unknown } & Record<string, unknown>, kind: Kind, utility: number | null, sha256: string) {
  const metric = (label: string, value: unknown) => `| ${label} | ${typeof value === "number" ? value.toFixed(4) : "—"} |`;
  return [
    `# ${run.name}: ${kind}`,
    "",
    `The ${kind === "global_best" ? "best" : "worst"} adapter of merge-search run \`${run.name}\` (${run.id}): a PEFT LoRA adapter.`,
    "",
    ...(run.status === "completed"
      ? []
      : [`The run is ${String(run.status)}: this is the best candidate up to its last recorded iteration (the best so far), not a finished search's result; the test metrics below are missing until the run completes.`, ""]),
    "```python",
    "from peft import PeftModel",
    `model = PeftModel.from_pretrained(base_model, "${run.name}-${kind}")`,
    "```",
    "",
    `Merge method \`${run.mergeMethod}\`, dataset \`${run.dataset}\`, eval type \`${run.evalType}\`.`,
    "",
    "| metric | value |",
    "|---|---|",
    metric(`${kind} dev utility`, utility),
    metric("starting_best_validation_utility", run.startingBestValidationUtility),
    metric("starting_best_single_test_accuracy", run.startingBestSingleTestAccuracy),
    metric("ending_best_validation_utility", run.endingBestValidationUtility),
    metric("ending_best_single_test_accuracy", run.endingBestSingleTestAccuracy),
    "",
    `adapter_model.safetensors sha256: \`${sha256}\``,
    "",
    "## Search configuration",
    "",
    "```json",
    JSON.stringify(run.config, null, 2),
    "```",
    "",
  ].join("\n");
}

export async function GET(_request: Request, context: { params: Promise<{ id: string; kind: string }> }) {
  const { id, kind } = await context.params;
  if (!(KINDS as readonly string[]).includes(kind)) return problem(404, `unknown artifact kind "${kind}": expected global_best or global_worst`);
  const db = serverDb();
  const run = await db.run.findUnique({ where: { id } });
  if (!run) return problem(404, `no run ${id}`);
  // The folder comes from the Artifact row, relative to the run's own folder; the request only picks the kind.
  const artifact = await db.artifact.findUnique({ where: { runId_kind: { runId: run.id, kind: kind as Kind } } });
  if (!artifact || !run.outputDir) return problem(404, `run ${run.name} has no ${kind} yet`);
  const folder = realPathInside(run.outputDir, path.resolve(run.outputDir, artifact.path));
  if (!folder) return problem(403, `the ${kind} artifact of run ${run.name} is not inside its run folder`);
  const files: Array<{ name: string; data: Uint8Array }> = [];
  for (const name of ["adapter_config.json", "adapter_model.safetensors"]) {
    const file = realPathInside(folder, path.join(/*turbopackIgnore: true*/ folder, name));
    if (!file) return problem(404, `${kind}/${name} of run ${run.name} is missing`);
    files.push({ name, data: await fs.promises.readFile(/*turbopackIgnore: true*/ file) });
  }
  if (kind === "global_best") {
    const recipe = realPathInside(run.outputDir, path.join(/*turbopackIgnore: true*/ run.outputDir, "global_best_recipe.yaml"));
    if (recipe) files.push({ name: "global_best_recipe.yaml", data: await fs.promises.readFile(/*turbopackIgnore: true*/ recipe) });
  }
  files.push({ name: "README.md", data: new TextEncoder().encode(readme(run, kind as Kind, artifact.utility, artifact.sha256)) });
  const prefix = `${run.name}-${kind}`;
  const zip = zipStore(files.map((file) => ({ name: `${prefix}/${file.name}`, data: file.data })));
  return new Response(zip as unknown as BodyInit, {
    headers: {
      "content-type": "application/zip",
      "content-length": String(zip.length),
      "content-disposition": `attachment; filename="${prefix}.zip"`,
      "cache-control": "no-store",
    },
  });
}
