"use client";

import { useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useCallback, useRef, useState } from "react";
import { useTRPC } from "@/trpc/react";

export interface IterationPoint {
  index: number;
  best: number;
  worst: number;
  scores: number[];
  evaluated: number[];
  restarted: number[];
  newBest: boolean;
  stepLength: number;
  evalMs: number;
  mergeMs: number;
  at: Date;
}

export interface RunLiveState {
  iterations: IterationPoint[];
  tests: Array<{ role: string; candidate: number; utility: number }>;
  lastEventId: string | null;
  eventCount: number;
  status: string | null;
  /** Status events in order, with when they were committed. */
  statuses: Array<{ status: string; at: Date }>;
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
      {
        onData: (envelope) => {
          const { id, data: event } = envelope;
          if (seen.current.has(id)) return;
          seen.current.add(id);
          const payload = event.payload as Record<string, unknown>;
          setState((current) => {
            const next: RunLiveState = { ...current, lastEventId: id, eventCount: current.eventCount + 1 };
            if (event.type === "iteration") {
              const point: IterationPoint = {
                index: payload.index as number,
                best: payload.best as number,
                worst: payload.worst as number,
                scores: (payload.scores as number[]) ?? [],
                evaluated: (payload.evaluated as number[]) ?? [],
                restarted: (payload.restarted as number[]) ?? [],
                newBest: !!payload.newBest,
                stepLength: payload.stepLength as number,
                evalMs: payload.evalMs as number,
                mergeMs: payload.mergeMs as number,
                at: new Date(event.createdAt),
              };
              next.iterations = [...current.iterations.filter((iteration) => iteration.index !== point.index), point].sort((a, b) => a.index - b.index);
            } else if (event.type === "test") {
              next.tests = [...current.tests, { role: payload.role as string, candidate: payload.candidate as number, utility: payload.utility as number }];
            } else if (event.type === "status") {
              next.status = payload.status as string;
              next.statuses = [...current.statuses, { status: payload.status as string, at: new Date(event.createdAt) }];
            }
            return next;
          });
          if (event.type === "status" || event.type === "test" || (event.type === "iteration" && payload.newBest)) refreshRun();
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
