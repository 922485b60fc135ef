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
    WORKER_GPUS: z
      .string()
      .trim()
      .regex(/^(auto|none|cpu|\d+(,\d+)*)$/, 'expected auto, none, cpu or GPU ids like 0,1')
      .default("auto"),
  });

type EnvSource = Record<string, string | undefined>;

export type ServerEnv = z.infer<typeof serverEnvSchema> & { dataDir: string };

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
  return { ...result.data, dataDir: path.resolve(result.data.DATA_DIR) };
}
