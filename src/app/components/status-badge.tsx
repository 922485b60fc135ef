const styles: Record<string, string> = {
  queued: "bg-slate-100 text-slate-700",
  running: "bg-sky-100 text-sky-800",
  completed: "bg-emerald-100 text-emerald-800",
  failed: "bg-red-100 text-red-800",
  cancelled: "bg-amber-100 text-amber-800",
  stale: "bg-orange-100 text-orange-800",
};

/** `stale`: the run says running, but its process stopped its heartbeat (it died); it can be resumed. */
export function StatusBadge({ status, stale = false, testId }: { status: string; stale?: boolean; testId?: string }) {
  const shown = stale ? "stale" : status;
  return (
    <span
      className={`inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium ${styles[shown] ?? "bg-slate-100"}`}
      data-testid={testId}
      data-status={shown}
      title={stale ? "running, but its process has not been heard from for a while (it died or lost the database); resume it" : undefined}
    >
      {/* No CSS animation: a dashboard left open beside a CPU search should not repaint 60 times a second. */}
      {shown === "running" && <span className="h-1.5 w-1.5 rounded-full bg-sky-600" />}
      {shown}
    </span>
  );
}

/**
 * Whether the live updates of a run that is still going arrive; nothing for a run that has ended, whose page
 * keeps its stream open but has nothing live to show.
 */
export function LiveBadge({ live, connection }: { live: boolean; connection: "idle" | "connecting" | "pending" | "error" }) {
  if (!live) return null;
  return (
    <span className={`text-xs ${connection === "pending" ? "text-emerald-700" : "text-amber-700"}`} data-testid="live-state" title="live updates (SSE)">
      {connection === "pending" ? "● live" : connection === "connecting" ? "○ connecting" : `○ ${connection}`}
    </span>
  );
}
