"use client";

import { useQueryClient, type QueryKey } from "@tanstack/react-query";
import { useEffect, useRef } from "react";

/**
 * Re-reads a query once more of the run's scores have streamed in: `recorded` counts the iteration and test events
 * (each stores scores the query reads). The first render reads it anyway, so only a later count triggers a re-read.
 */
export function useRefetchOnRecorded(queryKey: QueryKey, recorded: number) {
  const queryClient = useQueryClient();
  const seen = useRef(recorded);
  useEffect(() => {
    if (seen.current === recorded) return;
    seen.current = recorded;
    void queryClient.invalidateQueries({ queryKey });
    // The key is rebuilt each render; what it names does not change while the run does not.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [recorded, queryClient]);
}
