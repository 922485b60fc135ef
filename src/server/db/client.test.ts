import { afterEach, describe, expect, it } from "vitest";
import { runEventsHub } from "../events/hub";
import { serverDb } from "./client";

const saved = process.env.DATABASE_URL;
afterEach(() => {
  if (saved === undefined) delete process.env.DATABASE_URL;
  else process.env.DATABASE_URL = saved;
  delete (globalThis as { prisma?: unknown }).prisma;
  delete (globalThis as { runEventsHub?: unknown }).runEventsHub;
});

describe("the dashboard server's database connections", () => {
  it.each([
    ["not a Postgres URL", "mysql://somewhere/db", /^Invalid environment: DATABASE_URL: expected a URL like postgresql:/],
    ["unset", "", /^DATABASE_URL: not set; start the dashboard with `npm start`/],
  ])("name DATABASE_URL when it is %s, instead of connecting nowhere", (_, value, message) => {
    process.env.DATABASE_URL = value;
    expect(() => serverDb()).toThrow(message);
    expect(() => runEventsHub()).toThrow(message);
  });
});
