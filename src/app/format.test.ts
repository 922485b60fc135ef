import { describe, expect, it } from "vitest";
import { formatActiveTime, formatBytes, formatDuration, formatUtility } from "./format";

describe("format", () => {
  it("shows missing utilities as a dash and others with three decimals", () => {
    expect(formatUtility(null)).toBe("—");
    expect(formatUtility(0.5)).toBe("0.500");
  });

  it("formats durations from seconds to hours, open-ended ones up to now", () => {
    const start = new Date("2026-01-01T00:00:00Z");
    expect(formatDuration(null, null)).toBe("—");
    expect(formatDuration(start, new Date("2026-01-01T00:00:42Z"))).toBe("42 s");
    expect(formatDuration(start, new Date("2026-01-01T00:02:05Z"))).toBe("2 min 5 s");
    expect(formatDuration(start, new Date("2026-01-01T03:04:00Z"))).toBe("3 h 4 min");
    expect(formatDuration(start, null, new Date("2026-01-01T00:00:10Z"))).toBe("10 s");
  });

  it("formats a resumed run's time as the sum of its segments, the open one up to now", () => {
    const started = new Date("2026-01-01T00:00:00Z");
    expect(formatActiveTime({ firstStartedAt: null, closedMs: 0, openSince: null })).toBe("—");
    expect(formatActiveTime({ firstStartedAt: started, closedMs: 125_000, openSince: null })).toBe("2 min 5 s");
    expect(formatActiveTime({ firstStartedAt: started, closedMs: 50_000, openSince: new Date("2026-01-01T01:00:00Z") }, new Date("2026-01-01T01:00:10Z"))).toBe("1 min 0 s");
  });

  it("formats byte counts in binary units", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(24 * 1024 ** 3)).toBe("24.0 GiB");
  });
});
