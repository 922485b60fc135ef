/*
 * The compare page's "Test gain": how much better the ending best did on test than the starting best. A fall is
 * the gain where the utility is minimised (perplexity); only an accuracy's gain is in percentage points.
 */

/** `orientation`: +1 where the utility is maximised, −1 where minimised; `accuracy`: whether it is a 0–1 share. */
export function formatTestGain(starting: number | null | undefined, ending: number | null | undefined, orientation: 1 | -1, accuracy: boolean): string {
  if (starting == null || ending == null) return "—";
  const gain = orientation * (ending - starting);
  return accuracy ? `${(gain * 100).toFixed(1)} pts` : gain.toPrecision(4);
}
