import path from "node:path";
import { z } from "zod";

/** One line a user can act on: which variable is wrong and what was expected. */
export class EnvError extends Error {
  override name = "EnvError";
}

const postgresUrl = z
  .string()
  .trim()
  .refine(
    (value) => {
      try {
        const url = new URL(value);
        return (url.protocol === "postgres:" || url.protocol === "postgresql:") && url.hostname !== "";
      } catch {
        return false;
      }
    },
    { message: "expected a URL like postgresql://user:password@host:5432/database" },
  );

const serverEnvSchema = z
  .object({
    DATABASE_URL: postgresUrl.optional(),
    HOST: z.string().trim().min(1, "expected a host name or address").default("127.0.0.1"),
    PORT: z.coerce
      .number({ message: "expected a port number" })
      .int("expected a whole port number")
      .min(1, "expected a port between 1 and 65535")
      .max(65535, "expected a port between 1 and 65535")
      .default(3000),
    DATA_DIR: z.string().trim().min(1, "expected a folder path").default(".data"),
    OUTPUT_ROOT: z.string().trim().min(1, "expected a folder path").max(4096, "expected a folder path of at most 4,096 characters").default("search"),
    WORKER_GPUS: z
      .string()
      .trim()
      .regex(/^(auto|none|cpu|\d+(,\d+)*)$/, 'expected auto, none, cpu or GPU ids like 0,1')
      .default("auto"),
    DASHBOARD_TOKEN: z.string().trim().min(16, "expected at least 16 characters (e.g. `openssl rand -hex 24`)").optional(),
    DATASET_DIRS: z.string().trim().max(65536, "expected folder paths of at most 65,536 characters in all").optional(),
  })
  .superRefine((env, ctx) => {
    // Anyone who can reach a non-loopback address could launch searches and read runs: require a token there.
    if (!isLoopbackHost(env.HOST) && !env.DASHBOARD_TOKEN) {
      ctx.addIssue({
        code: "custom",
        path: ["DASHBOARD_TOKEN"],
        message: `required when HOST is ${env.HOST} (not a loopback address); set DASHBOARD_TOKEN to a long random string (e.g. \`openssl rand -hex 24\`) and open the dashboard once with /?token=<it>`,
      });
    }
  });

/**
 * The database of the dashboard's server process: the launcher (scripts/start.ts) opens it and hands its URL over
 * as DATABASE_URL. Read through the same schema as every other variable, so a bad value is one line naming it.
 */
export function serverDatabaseUrl(source: EnvSource = process.env): string {
  const url = parseServerEnv(source).DATABASE_URL;
  if (!url) throw new EnvError("DATABASE_URL: not set; start the dashboard with `npm start`, which provides the database");
  return url;
}

/** 127.0.0.0/8, ::1 and localhost: only this machine can connect. */
export function isLoopbackHost(host: string): boolean {
  const value = host.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return value === "localhost" || value === "::1" || /^127(\.\d{1,3}){3}$/.test(value);
}

type EnvSource = Record<string, string | undefined>;

export type ServerEnv = z.infer<typeof serverEnvSchema> & { dataDir: string; outputRoot: string; datasetDirs: string[] };

/** Empty strings count as unset, as shells and .env files commonly write them. */
function withoutEmpty(source: EnvSource): Record<string, string> {
  return Object.fromEntries(Object.entries(source).filter((entry): entry is [string, string] => !!entry[1]));
}

export function parseServerEnv(source: EnvSource = process.env): ServerEnv {
  const result = serverEnvSchema.safeParse(withoutEmpty(source));
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new EnvError(`Invalid environment: ${lines.join("; ")}`);
  }
  // Folders separated as in PATH (":" here, ";" on Windows).
  const datasetDirs = (result.data.DATASET_DIRS ?? "").split(path.delimiter).filter((folder) => folder.trim() !== "").map((folder) => path.resolve(folder.trim()));
  return { ...result.data, dataDir: path.resolve(result.data.DATA_DIR), outputRoot: path.resolve(result.data.OUTPUT_ROOT), datasetDirs };
}
