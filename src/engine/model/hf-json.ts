import fs from "node:fs";

/** A JSON object read from a model folder; each failure is one line naming the file, in the caller's error class. */
export function readJsonObject(file: string, fail: (problem: string) => Error): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw fail(`cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw fail(`not valid JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw fail("expected a JSON object");
  return parsed as Record<string, unknown>;
}
