import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { KERNEL_ENUMS } from "./kernel-enums";

const nativeSrc = path.resolve(import.meta.dirname, "../../../native/src");

/** the named C++ enum's entries ({ NAME: code }), every entry written NAME = code */
function cppEnum(header: string, name: string): Record<string, number> {
  const text = readFileSync(path.join(nativeSrc, header), "utf8");
  const body = new RegExp(`enum\\s+${name}\\s*\\{([^}]*)\\}`).exec(text)?.[1];
  if (body === undefined) throw new Error(`native/src/${header} declares no enum ${name}`);
  return Object.fromEntries(
    body
      .split(",")
      .map((e) => e.trim())
      .filter(Boolean)
      .map((e) => {
        const m = /^(\w+)\s*=\s*(\d+)$/.exec(e);
        if (!m) throw new Error(`native/src/${header}: enum ${name}: "${e}" has no explicit code`);
        return [m[1]!, Number(m[2])];
      }),
  );
}

describe("kernel enums", () => {
  it.each(KERNEL_ENUMS.map((e) => [e.cppEnum, e] as const))("TypeScript and C++ give %s the same names and codes", (_, e) => {
    const fromTs = Object.fromEntries(Object.entries(e.values).map(([k, v]) => [`${e.prefix}${k.toUpperCase()}`, v]));
    expect(cppEnum(e.header, e.cppEnum)).toEqual(fromTs);
  });
});
