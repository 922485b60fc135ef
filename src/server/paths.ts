import path from "node:path";
import { parseServerEnv } from "../env";

/*
 * Folders of the checkout, from the working directory: `npm start`, the CLI and the tests run from the
 * project root, and inside the Next.js server import.meta.url points into the build output instead.
 */
export const projectPaths = {
  migrations: path.join(process.cwd(), "prisma", "migrations"),
};

/** DATA_DIR: the database, the model cache and the experts extracted from the dashboard. */
export function dataDir(): string {
  return parseServerEnv().dataDir;
}

/** Where the decoders of Hugging Face base models are built and kept: DATA_DIR/models, as `npm run import` keeps them. */
export function modelCacheRoot(): string {
  return path.join(parseServerEnv().dataDir, "models");
}

/** Where searches launched from the dashboard write their folders: OUTPUT_ROOT, never a client's choice. */
export function dashboardOutputRoot(): string {
  return parseServerEnv().outputRoot;
}
