import { describe, expect, it } from "vitest";
import { progressBar } from "./progress-bar";

function recorder(isTTY: boolean, columns = 80) {
  const written: string[] = [];
  return { stream: { isTTY, columns, write: (text: string) => written.push(text) }, written };
}

describe("progressBar", () => {
  it("redraws one line in place on a TTY and ends it with a newline", () => {
    const { stream, written } = recorder(true);
    const bar = progressBar(stream, "import");
    bar.update({ phase: "extract math", done: 1, total: 4 });
    bar.update({ phase: "extract math", done: 4, total: 4 });
    bar.finish();
    expect(written).toEqual([`\rimport [${"#".repeat(6)}${"-".repeat(18)}] extract math 1/4\x1b[K`, `\rimport [${"#".repeat(24)}] extract math 4/4\x1b[K`, "\n"]);
  });

  it("keeps the bar within the terminal's width, and within 80 columns where the terminal tells none", () => {
    for (const [columns, width] of [[30, 29], [0, 79]] as const) {
      const { stream, written } = recorder(true, columns);
      progressBar(stream, "import").update({ phase: "extract a-very-long-expert-name-that-goes-on-and-on-past-the-edge", done: 1, total: 2 });
      expect(written[0]!.slice("\r".length, -"\x1b[K".length)).toHaveLength(width);
    }
  });

  it("writes a plain line when each phase starts and ends, elsewhere", () => {
    const { stream, written } = recorder(false);
    const bar = progressBar(stream, "import");
    for (let done = 0; done <= 3; done += 1) bar.update({ phase: "extract math", done, total: 3 });
    bar.update({ phase: "write decoder", done: 0, total: 1 });
    bar.finish();
    expect(written).toEqual(["import: extract math 0/3\n", "import: extract math 3/3 done\n", "import: write decoder 0/1\n"]);
    expect(written.join("")).not.toContain("\r");
  });
});
