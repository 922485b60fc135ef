"use client";

import { useQueryClient, type QueryKey } from "@tanstack/react-query";
import { useEffect, useRef } from "react";

/**
 * Re-reads a query once more iterations have streamed in (the run's event stream says when the rows behind it
 * changed). The first render reads it anyway, so only a later count triggers a re-read.
 */
export function useRefetchOnIteration(queryKey: QueryKey, iterations: number) {
  const queryClient = useQueryClient();
  const seen = useRef(iterations);
  useEffect(() => {
    if (seen.current === iterations) return;
    seen.current = iterations;
    void queryClient.invalidateQueries({ queryKey });
    // The key is rebuilt each render; what it names does not change while the run does not.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [iterations, queryClient]);
}
