import PgBoss from "pg-boss";

/*
 * The job queue (pg-boss, in the pg-boss schema of the product's database). Searches launched from the
 * dashboard are `search-run` jobs; candidate evaluations are `search-evaluate` jobs, so workers on other
 * hosts (`npm run worker` with DATABASE_URL) share the work.
 */

export const QUEUES = {
  run: "search-run",
  evaluate: "search-evaluate",
} as const;

const bosses = new Map<string, Promise<PgBoss>>();

/** One started pg-boss per database URL and process. */
export function queue(url: string): Promise<PgBoss> {
  let boss = bosses.get(url);
  if (!boss) {
    boss = (async () => {
      const instance = new PgBoss({ connectionString: url, max: 4, application_name: "merge-search-queue" });
      instance.on("error", (error) => console.error(`job queue: ${error.message}`));
      await instance.start();
      // A search runs for as long as it needs; evaluations are retried elsewhere if a worker dies.
      await instance.createQueue(QUEUES.run, { name: QUEUES.run, retryLimit: 0, expireInHours: 23 });
      await instance.createQueue(QUEUES.evaluate, { name: QUEUES.evaluate, retryLimit: 3, retryDelay: 1, expireInMinutes: 30 });
      return instance;
    })();
    bosses.set(url, boss);
    boss.catch(() => bosses.delete(url));
  }
  return boss;
}

export async function closeQueues() {
  const all = [...bosses.values()];
  bosses.clear();
  await Promise.all(all.map(async (boss) => (await boss).stop({ graceful: true, close: true, timeout: 10_000 }).catch(() => {})));
}
