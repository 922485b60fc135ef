import { describe, expect, it } from "vitest";
import { EnvError } from "../../env";
import { checkPostgresVersion } from "./connection";

describe("an external database", () => {
  it("must be PostgreSQL 16 or newer, as the migrations need, and is refused naming DATABASE_URL otherwise", () => {
    expect(() => checkPostgresVersion(150004)).toThrow(EnvError);
    expect(() => checkPostgresVersion(150004)).toThrow("DATABASE_URL: the server runs PostgreSQL 15; the dashboard needs PostgreSQL 16 or newer");
    expect(() => checkPostgresVersion(160000)).not.toThrow();
    expect(() => checkPostgresVersion(180001)).not.toThrow();
  });
});
