/* How the run and compare pages write the L2S metrics. */

export function formatTokens(value: number | null | undefined): string {
  return value == null ? "—" : value.toFixed(1);
}

/** "0.250 (1/4)": the rate with the questions lost over those a source answered right; "—" where not measured. */
export function formatNtr(ntr: { rate: number | null; negative: number; eligible: number } | null | undefined): string {
  if (!ntr) return "—";
  return `${ntr.rate == null ? "—" : ntr.rate.toFixed(3)} (${ntr.negative}/${ntr.eligible})`;
}
