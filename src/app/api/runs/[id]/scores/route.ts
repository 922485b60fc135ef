import { serverDb } from "@/server/db/client";
import { MismatchedQuestionsError } from "@/engine/metrics/l2s";
import { scoreTable, scoreTableCsv, type MetricsSplit } from "@/server/metrics/l2s";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const SPLITS: readonly MetricsSplit[] = ["dev", "test"];
const FORMATS = ["csv", "json"] as const;

function problem(status: number, message: string) {
  return new Response(`${message}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

/** A run's per-question correctness as a 0/1 table, one row per model: `?split=dev|test&format=csv|json`. */
export async function GET(request: Request, context: { params: Promise<{ id: string }> }) {
  const { id } = await context.params;
  const query = new URL(request.url).searchParams;
  const split = query.get("split") ?? "dev";
  const format = query.get("format") ?? "csv";
  if (!(SPLITS as readonly string[]).includes(split)) return problem(400, `split: expected dev or test, got "${split}"`);
  if (!(FORMATS as readonly string[]).includes(format)) return problem(400, `format: expected csv or json, got "${format}"`);
  const db = serverDb();
  const run = await db.run.findUnique({ where: { id } });
  if (!run) return problem(404, `no run ${id}`);
  let table;
  try {
    table = await scoreTable(db, run, split as MetricsSplit);
  } catch (error) {
    if (error instanceof MismatchedQuestionsError) return problem(409, `run ${run.name} has no ${split} score table: ${error.message}`);
    throw error;
  }
  if (table.models.length === 0) return problem(404, `run ${run.name} has no ${split} results yet`);
  const body = format === "csv" ? scoreTableCsv(table) : `${JSON.stringify(table, null, 2)}\n`;
  return new Response(body, {
    headers: {
      "content-type": format === "csv" ? "text/csv; charset=utf-8" : "application/json; charset=utf-8",
      "content-disposition": `attachment; filename="${run.name}-${split}-scores.${format}"`,
      "cache-control": "no-store",
    },
  });
}
