import { describe, expect, it } from "vitest";
import { correctnessTimeline, globalBestByIteration } from "./correctness-timeline";

describe("globalBestByIteration", () => {
  it("keeps an earlier evaluation as the best until a later one is strictly higher, the lowest candidate among equals", () => {
    const evaluations = [
      { iteration: 0, candidate: 0, utility: 0.2 },
      { iteration: 0, candidate: 1, utility: 0.4 },
      { iteration: 0, candidate: 2, utility: 0.4 },
      { iteration: 1, candidate: 2, utility: 0.4 }, // equal to the best: not a new best
      { iteration: 2, candidate: 0, utility: 0.5 },
      // iteration 3: nothing evaluated (a dropped iteration)
      { iteration: 4, candidate: 1, utility: 0.3 },
    ];
    expect(globalBestByIteration([0, 1, 2, 3, 4], evaluations, 1)).toEqual([
      { iteration: 0, foundAt: 0, candidate: 1 },
      { iteration: 1, foundAt: 0, candidate: 1 },
      { iteration: 2, foundAt: 2, candidate: 0 },
      { iteration: 3, foundAt: 2, candidate: 0 },
      { iteration: 4, foundAt: 2, candidate: 0 },
    ]);
  });

  it("where the utility is minimised (perplexity), keeps the lowest as the best, replaced only by a strictly lower one", () => {
    const evaluations = [
      { iteration: 0, candidate: 0, utility: 9 },
      { iteration: 0, candidate: 1, utility: 4 },
      { iteration: 1, candidate: 0, utility: 4 }, // equal to the best: not a new best
      { iteration: 1, candidate: 1, utility: 12 },
      { iteration: 2, candidate: 0, utility: 3 },
    ];
    expect(globalBestByIteration([0, 1, 2], evaluations, -1)).toEqual([
      { iteration: 0, foundAt: 0, candidate: 1 },
      { iteration: 1, foundAt: 0, candidate: 1 },
      { iteration: 2, foundAt: 2, candidate: 0 },
    ]);
  });
});

describe("correctnessTimeline", () => {
  it("says after which iteration each question was gained or lost", () => {
    const timeline = correctnessTimeline([0, 1, 2, 3], [
      [false, true, true],
      [true, true, false],
      [true, false, false],
      [false, true, true],
    ]);
    expect(timeline.map(({ gained, lost }) => ({ gained, lost }))).toEqual([
      { gained: [1], lost: [3] },
      { gained: [3], lost: [2] },
      { gained: [3], lost: [1] },
    ]);
    expect(timeline[0]!.correct).toEqual([false, true, true, false]);
  });

  it("counts no change across an iteration whose answers are not stored", () => {
    const [question] = correctnessTimeline([0, 1, 2, 3], [[false], null, [true], [true]]);
    expect(question).toEqual({ index: 0, correct: [false, null, true, true], gained: [], lost: [] });
  });
});
