import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { CliUsageError } from "../../engine/search/cli-args";
import { SearchSetupError } from "../../engine/search/session";
import { userFacingMessage } from "./user-errors";

describe("which errors the CLI prints as one line", () => {
  it("prints the user's errors and the filesystem's refusals as their message", () => {
    expect(userFacingMessage(new CliUsageError("--seed: expected a number"))).toBe("--seed: expected a number");
    expect(userFacingMessage(new SearchSetupError("dataset", "nope"))).toBe("--dataset: nope");
    let notDirectory: unknown;
    try {
      fs.readdirSync("package.json");
    } catch (error) {
      notDirectory = error;
    }
    expect(userFacingMessage(notDirectory)).toBe("ENOTDIR: not a directory, scandir 'package.json'");
    let syntax: unknown;
    try {
      JSON.parse("{bad");
    } catch (error) {
      syntax = error;
    }
    expect(userFacingMessage(syntax)).toMatch(/^a file is not valid JSON: /);
  });

  it("leaves bugs to their stack", () => {
    expect(userFacingMessage(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBeNull();
    expect(userFacingMessage(new Error("invariant broken"))).toBeNull();
    expect(userFacingMessage("a string")).toBeNull();
  });
});
