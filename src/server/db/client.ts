import { PrismaPg } from "@prisma/adapter-pg";
import { serverDatabaseUrl } from "../../env";
import { PrismaClient } from "./generated/client";

export type Db = PrismaClient;

export function createPrismaClient(url: string): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: url }) });
}

const globalForPrisma = globalThis as unknown as { prisma?: PrismaClient };

/**
 * The Next.js server's client. The launcher (scripts/start.ts) opens and migrates the database, then hands
 * its URL to `next start` as DATABASE_URL; reloads in development reuse one client.
 */
export function serverDb(): PrismaClient {
  if (!globalForPrisma.prisma) {
    globalForPrisma.prisma = createPrismaClient(serverDatabaseUrl());
  }
  return globalForPrisma.prisma;
}

const connectionLossCodes = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "P1001", "P1017", "57P01", "57P02", "57P03"]);

/** Whether an error (from pg, or Prisma wrapping it) means the server went away, rather than that a query was wrong. */
export function isConnectionLoss(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 8; current = (current as { cause?: unknown }).cause, depth += 1) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === "string" && (connectionLossCodes.has(code) || code.startsWith("08"))) return true;
    if (typeof message === "string" && /Connection terminated|Client has encountered a connection error|terminating connection due to administrator command/.test(message)) return true;
  }
  return false;
}
