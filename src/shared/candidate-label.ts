/*
 * How the dashboard names a candidate, on the charts and in the run's labels alike. Plain TypeScript: the run
 * page and the server both import it.
 */

/** "candidate 3 (math)" for a candidate that started as an expert; the bare number for one the search made. */
export function candidateLabel(index: number, names: readonly string[]): string {
  const name = names[index];
  return name ? `candidate ${index} (${name})` : `candidate ${index}`;
}
