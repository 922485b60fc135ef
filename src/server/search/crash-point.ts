/*
 * Test-only: MERGE_SEARCH_CRASH_AT=<point> makes the search process SIGKILL itself at that point, so integration
 * tests kill it in an exact crash window instead of racing a timer. Unset, every point is a no-op.
 */
export type CrashPoint =
  /** After iteration 0 is recorded, while the starting test evaluation runs. */
  | "starting-test"
  /** After iteration N is recorded (N = 0, 1, …): `iteration-N`. */
  | `iteration-${number}`
  /** After global_best, global_worst and metrics.json are written, before the run's final transaction (state/ goes after it). */
  | "before-finish";

export function crashPoint(point: CrashPoint) {
  if (process.env.MERGE_SEARCH_CRASH_AT === point) process.kill(process.pid, "SIGKILL");
}
