"use client";

import { useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useCallback, useRef, useState } from "react";
import type { RunEventPayload, RunStatus } from "@/shared/run-events";
import { useTRPC, type RouterOutputs } from "@/trpc/react";

/** One message of the runs.events subscription, as the server's router types it: `{ id, data }`. */
type RunEventEnvelope = RouterOutputs["runs"]["events"] extends AsyncIterable<infer Envelope> ? Envelope : never;

export type IterationPoint = RunEventPayload<"iteration"> & { at: Date };

export interface RunLiveState {
  iterations: IterationPoint[];
  tests: Array<RunEventPayload<"test">>;
  lastEventId: string | null;
  eventCount: number;
  status: RunStatus | null;
  /** Status events in order, with when they were committed. */
  statuses: Array<{ status: RunStatus; at: Date }>;
}

const empty: RunLiveState = { iterations: [], tests: [], lastEventId: null, eventCount: 0, status: null, statuses: [] };

/**
 * The run's event stream folded into chart state. The stream starts at the run's first event, so a reload
 * rebuilds everything; after a dropped connection, httpSubscriptionLink resumes after the last tracked id.
 * Events are applied once each (by id) and iterations keyed by index, so nothing is doubled.
 */
export function useRunEvents(runId: string) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [state, setState] = useState<RunLiveState>(empty);
  const seen = useRef(new Set<string>());
  const refreshTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const refreshRun = useCallback(() => {
    if (refreshTimer.current) return;
    refreshTimer.current = setTimeout(() => {
      refreshTimer.current = null;
      void queryClient.invalidateQueries({ queryKey: trpc.runs.get.queryKey({ id: runId }) });
      void queryClient.invalidateQueries({ queryKey: trpc.runs.bestResults.queryKey({ id: runId }) });
      void queryClient.invalidateQueries({ queryKey: trpc.runs.log.pathKey() });
    }, 150);
  }, [queryClient, trpc, runId]);

  const subscription = useSubscription(
    trpc.runs.events.subscriptionOptions(
      { runId },
      // eslint-disable-next-line react-hooks/refs -- onData runs once per subscription message, never during render
      {
        onData: (envelope: RunEventEnvelope) => {
          const { id, data: event } = envelope;
          if (seen.current.has(id)) return;
          seen.current.add(id);
          setState((current) => {
            const next: RunLiveState = { ...current, lastEventId: id, eventCount: current.eventCount + 1 };
            if (event.type === "iteration") {
              const point: IterationPoint = { ...event.payload, at: event.createdAt };
              next.iterations = [...current.iterations.filter((iteration) => iteration.index !== point.index), point].sort((a, b) => a.index - b.index);
            } else if (event.type === "test") {
              next.tests = [...current.tests, event.payload];
            } else if (event.type === "status") {
              next.status = event.payload.status;
              next.statuses = [...current.statuses, { status: event.payload.status, at: event.createdAt }];
            }
            return next;
          });
          if (event.type === "status" || event.type === "test" || (event.type === "iteration" && event.payload.newBest)) refreshRun();
        },
      },
    ),
  );
  return { state, subscription };
}

/**
 * A running search that was asked to stop finishes its current iteration first and then records "cancelled"
 * a second time. Until then it still holds the run: resuming it would race with its last iteration.
 */
export function stopPending(statuses: RunLiveState["statuses"], now: Date): boolean {
  const last = statuses.at(-1);
  const before = statuses.at(-2);
  if (last?.status !== "cancelled" || before?.status !== "running") return false;
  // A worker that died never acknowledges; do not block resuming for ever.
  return now.getTime() - last.at.getTime() < 120_000;
}
