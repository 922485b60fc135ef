import type { TestProject } from "vitest/node";
import { startOrAttachEmbeddedPostgres, type EmbeddedPostgresHandle } from "../../src/server/db/embedded";
import { removeDataDir, temporaryDataDir } from "./helpers";

declare module "vitest" {
  export interface ProvidedContext {
    /** A server (not a database) for tests to create their own databases on. */
    serverUrl: string;
  }
}

let server: EmbeddedPostgresHandle | undefined;
let dataDir: string | undefined;

export async function setup(project: TestProject) {
  dataDir = temporaryDataDir("merge-it-");
  server = await startOrAttachEmbeddedPostgres(dataDir);
  project.provide("serverUrl", server.url);
}

export async function teardown() {
  await server?.release();
  if (dataDir) removeDataDir(dataDir);
}
