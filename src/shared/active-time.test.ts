import { describe, expect, it } from "vitest";
import { activeMs, activeTimeOf, type StatusMark } from "./active-time";

const at = (seconds: number) => new Date(Date.UTC(2026, 11, 1, 12, 0, seconds));
const mark = (status: StatusMark["status"], seconds: number): StatusMark => ({ status, at: at(seconds) });
const alive = { stale: false, heartbeatAt: null };

describe("activeTimeOf", () => {
  it("sums every segment of a resumed run, not only the last one", () => {
    // Ran 10 s, cancelled, waited 100 s in between, resumed and ran 5 s more.
    const marks = [mark("queued", 0), mark("running", 1), mark("cancelled", 11), mark("queued", 100), mark("running", 111), mark("completed", 116)];
    const time = activeTimeOf(marks, alive);
    expect(time).toEqual({ firstStartedAt: at(1), closedMs: 15_000, openSince: null });
    expect(activeMs(time, at(500))).toBe(15_000);
  });

  it("keeps a live run's segment open for the viewer's clock", () => {
    const time = activeTimeOf([mark("running", 0), mark("failed", 4), mark("queued", 10), mark("running", 20)], alive);
    expect(time).toEqual({ firstStartedAt: at(0), closedMs: 4_000, openSince: at(20) });
    expect(activeMs(time, at(26))).toBe(10_000);
  });

  it("ends a stale run's open segment at its last heartbeat", () => {
    const time = activeTimeOf([mark("running", 0)], { stale: true, heartbeatAt: at(7) });
    expect(time).toEqual({ firstStartedAt: at(0), closedMs: 7_000, openSince: null });
  });

  it("has no time for a run that never ran", () => {
    expect(activeTimeOf([mark("queued", 0), mark("cancelled", 3)], alive)).toEqual({ firstStartedAt: null, closedMs: 0, openSince: null });
  });
});
