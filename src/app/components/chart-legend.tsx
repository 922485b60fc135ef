"use client";

import { useEffect, useRef, useState } from "react";
import { nextHidden } from "./chart-style";

export interface LegendEntry {
  key: string;
  label: string;
  color: string;
  dash?: string;
  /** Drawn as a marker rather than a line (points measured now and then). */
  marker?: boolean;
}

/** Which lines the legend hides, and its click handler (a modifier or a double click isolates the line). */
export function useHiddenLines(keys: readonly string[]) {
  const [hidden, setHidden] = useState<Set<string>>(() => new Set());
  const toggle = (key: string, isolate: boolean) => setHidden((current) => nextHidden(current, key, keys, isolate));
  return { hidden, toggle };
}

/** The width of the element the ref is put on, kept current as the page resizes (0 before the first layout). */
export function useWidth<T extends HTMLElement>() {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    const observer = new ResizeObserver(([entry]) => setWidth(entry!.contentRect.width));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return { ref, width };
}

function Swatch({ entry }: { entry: LegendEntry }) {
  return (
    <svg width={22} height={10} aria-hidden className="shrink-0">
      {entry.marker ? (
        <rect x={7} y={1} width={8} height={8} fill={entry.color} transform="rotate(45 11 5)" />
      ) : (
        <line x1={1} y1={5} x2={21} y2={5} stroke={entry.color} strokeWidth={entry.dash ? 2 : 3} strokeDasharray={entry.dash} />
      )}
    </svg>
  );
}

/**
 * The chart's legend, outside the plot so the tooltip never covers it. A click hides or shows a line;
 * Alt/Ctrl/⌘/Shift-click or a double click shows that line alone (again: all of them).
 */
export function ChartLegend({ entries, hidden, onToggle, notes = [] }: { entries: LegendEntry[]; hidden: ReadonlySet<string>; onToggle: (key: string, isolate: boolean) => void; notes?: React.ReactNode[] }) {
  return (
    <div className="mt-2 flex flex-wrap items-center gap-x-3 gap-y-1 text-xs" data-testid="chart-legend">
      {entries.map((entry) => {
        const off = hidden.has(entry.key);
        return (
          <button
            key={entry.key}
            type="button"
            className={`flex items-center gap-1 rounded px-1 hover:bg-slate-100 ${off ? "text-slate-400 line-through" : "text-slate-700"}`}
            onClick={(event) => onToggle(entry.key, event.altKey || event.ctrlKey || event.metaKey || event.shiftKey)}
            onDoubleClick={() => onToggle(entry.key, true)}
            aria-pressed={!off}
            title="click: hide or show · double click or Alt-click: show only this line"
            data-testid="legend-item"
            data-key={entry.key}
            data-hidden={off}
          >
            <Swatch entry={entry} />
            {entry.label}
          </button>
        );
      })}
      {notes.map((note, index) => (
        <span key={index} className="text-slate-500">
          {note}
        </span>
      ))}
    </div>
  );
}
