import { EvalDeviceError } from "../../engine/eval/onnx";
import { CliUsageError } from "../../engine/search/cli-args";
import { EnvError } from "../../env";
import { SearchSetupError } from "../../engine/search/session";
import { SearchInterruptedError } from "./run-lease";

/**
 * The one line for an error the user can act on (a flag, a file, a folder), or null for a bug in this program,
 * whose stack belongs in a report.
 */
export function userFacingMessage(error: unknown): string | null {
  if (error instanceof CliUsageError || error instanceof SearchSetupError || error instanceof EvalDeviceError || error instanceof EnvError || error instanceof SearchInterruptedError) return error.message;
  // The filesystem refused (ENOTDIR, EACCES, ENOSPC…): its message names the call and the path.
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (error instanceof Error && typeof code === "string" && /^E[A-Z]+$/.test(code)) return error.message;
  // Once the program is loaded, only data is parsed: a file that is not valid JSON.
  if (error instanceof SyntaxError) return `a file is not valid JSON: ${error.message}`;
  return null;
}
