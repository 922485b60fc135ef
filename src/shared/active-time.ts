import type { RunStatus } from "./run-events";

/*
 * How long a run has been executing, over every segment: a resumed run starts a new segment each time it turns
 * "running", and Run.startedAt only keeps the latest. The run's status events mark each segment's bounds.
 */

export interface ActiveTime {
  /** When the run first turned running; null while it never ran. */
  firstStartedAt: Date | null;
  /** The summed length of every segment that ended. */
  closedMs: number;
  /** The start of the segment still executing, which a view adds up to its own clock; null when none is. */
  openSince: Date | null;
}

export interface StatusMark {
  status: RunStatus;
  at: Date;
}

/**
 * The run's active time from its status events in order. A segment runs from a "running" event to the next status
 * event. One left open belongs to a live run; for a run whose process died (stale) it ended at the last heartbeat.
 */
export function activeTimeOf(marks: readonly StatusMark[], { stale, heartbeatAt }: { stale: boolean; heartbeatAt: Date | null }): ActiveTime {
  let firstStartedAt: Date | null = null;
  let closedMs = 0;
  let openSince: Date | null = null;
  for (const mark of marks) {
    if (openSince) closedMs += Math.max(0, mark.at.getTime() - openSince.getTime());
    openSince = mark.status === "running" ? mark.at : null;
    if (mark.status === "running") firstStartedAt ??= mark.at;
  }
  if (openSince && stale) {
    closedMs += Math.max(0, (heartbeatAt ?? openSince).getTime() - openSince.getTime());
    openSince = null;
  }
  return { firstStartedAt, closedMs, openSince };
}

/** The active time up to `now`, in milliseconds. */
export function activeMs(time: ActiveTime, now: Date = new Date()): number {
  return time.closedMs + (time.openSince ? Math.max(0, now.getTime() - time.openSince.getTime()) : 0);
}
