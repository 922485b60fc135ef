const styles: Record<string, string> = {
  queued: "bg-slate-100 text-slate-700",
  running: "bg-sky-100 text-sky-800",
  completed: "bg-emerald-100 text-emerald-800",
  failed: "bg-red-100 text-red-800",
  cancelled: "bg-amber-100 text-amber-800",
};

export function StatusBadge({ status, testId }: { status: string; testId?: string }) {
  return (
    <span className={`inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium ${styles[status] ?? "bg-slate-100"}`} data-testid={testId} data-status={status}>
      {/* No CSS animation: a dashboard left open beside a CPU search should not repaint 60 times a second. */}
      {status === "running" && <span className="h-1.5 w-1.5 rounded-full bg-sky-600" />}
      {status}
    </span>
  );
}
