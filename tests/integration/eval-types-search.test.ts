import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { prepareSearch } from "../../src/engine/search/session";
import { executeSearch } from "../../src/server/search/launch";
import { migratedDatabase, query } from "./helpers";

/*
 * Each eval type the seed's users search with runs a whole search on the zoo: two iterations of two experts on a few
 * questions, in-process, stored like any run, its per-question results as the dashboard reads them.
 */

const root = fs.mkdtempSync(path.join(os.tmpdir(), "eval-types-"));
const expertDir = path.join(root, "experts");
for (const expert of ["knowledge", "compare"]) fs.cpSync(path.join("initial_experts", expert), path.join(expertDir, expert), { recursive: true });
const store = migratedDatabase();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe("a search per eval type", () => {
  it("AbstainQA: effective reliability as the utility, abstentions kept per question", async () => {
    const config = parseSearchArgs([
      ...["-n", "abstain", "-e", "AbstainQA", "-d", "knowledge_mc", "--eval_params", '{"maxNewTokens": 3}', "-i", expertDir, "--output_root", root],
      ...["--dev_questions", "6", "--test_questions", "4", "-m", "2", "--to_visualize", "1", "--correctness_emergence", "1"],
    ]);
    const prepared = await prepareSearch(config, { gpus: [], modelCache: path.join(root, "models") });
    const result = await executeSearch(store.db, store.url, prepared, { origin: "cli" });
    expect(result.status).toBe("completed");
    const scores = await query<{ utility: number; results: Array<{ correct: boolean; abstained: boolean; score: number }> }>(
      store.url,
      `SELECT c.utility, c.results FROM "CandidateScore" c JOIN "Run" r ON r.id = c."runId" WHERE r.name = 'abstain' AND c.split = 'dev'`,
    );
    expect(scores.length).toBeGreaterThanOrEqual(2 * 3);
    for (const { utility, results } of scores) {
      expect(results).toHaveLength(6);
      const right = results.filter((row) => row.correct).length;
      const wrong = results.filter((row) => !row.correct && !row.abstained).length;
      expect(utility).toBeCloseTo((right - wrong) / 6);
      for (const row of results) expect(typeof row.abstained).toBe("boolean");
    }
    // BWR_model's files: recipe mode's first two weights, and each candidate's 0/1 per question, after every iteration.
    const file = (name: string) => JSON.parse(fs.readFileSync(path.join(result.folder, name), "utf8")) as Record<string, unknown[][]>;
    const trajectory = file("trajectory.json");
    expect(Object.keys(trajectory)).toEqual(["0", "1"]);
    for (const positions of Object.values(trajectory)) {
      expect(positions).toHaveLength(3);
      for (const point of positions) expect(point).toEqual([expect.any(Number), expect.any(Number)]);
    }
    const emergence = file("correctness_emergence.json");
    const byIteration = await query<{ iteration: number; candidate: number; results: Array<{ correct: boolean }> }>(
      store.url,
      `SELECT c.iteration, c.candidate, c.results FROM "CandidateScore" c JOIN "Run" r ON r.id = c."runId" WHERE r.name = 'abstain' AND c.split = 'dev'`,
    );
    for (const { iteration, candidate, results } of byIteration) expect(emergence[candidate]![iteration]).toEqual(results.map((row) => Number(row.correct)));
  });

  describe("human, judged by a loopback OpenAI-compatible server", () => {
    let server: http.Server;
    let url = "";
    let judgements = 0;
    beforeAll(async () => {
      // Rates a response by its length, so candidates differ and the rating is known from the stored prediction.
      server = http.createServer((request, reply) => {
        let body = "";
        request.on("data", (chunk) => (body += chunk));
        request.on("end", () => {
          judgements += 1;
          const content = (JSON.parse(body) as { messages: Array<{ content: string }> }).messages[0]!.content;
          const response = content.slice(content.indexOf("[Response]\n") + "[Response]\n".length);
          reply.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ choices: [{ message: { content: `Rating: ${response.length % 11}/10` } }] }));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;
    });
    afterAll(() => server.close());

    it("the mean rating / 10 as the utility, each rating kept with its question", async () => {
      const config = parseSearchArgs([
        ...["-n", "judged", "-e", "human", "-d", "data/eval/bwr-model-format/external_api.json", "-i", expertDir, "--output_root", root],
        ...["--eval_params", JSON.stringify({ url, model: "loopback", maxNewTokens: 6 }), "-m", "2"],
      ]);
      const prepared = await prepareSearch(config, { gpus: [], modelCache: path.join(root, "models") });
      const result = await executeSearch(store.db, store.url, prepared, { origin: "cli" });
      expect(result.status).toBe("completed");
      const scores = await query<{ utility: number; results: Array<{ prediction: string; answer: string; score: number }> }>(
        store.url,
        `SELECT c.utility, c.results FROM "CandidateScore" c JOIN "Run" r ON r.id = c."runId" WHERE r.name = 'judged' AND c.split = 'dev'`,
      );
      expect(scores.length).toBeGreaterThanOrEqual(2 * 3);
      for (const { utility, results } of scores) {
        expect(results).toHaveLength(3);
        for (const row of results) expect(row.score).toBeCloseTo((row.prediction.length % 11) / 10);
        expect(utility).toBeCloseTo(results.reduce((sum, row) => sum + row.score, 0) / 3);
      }
      expect(judgements).toBeGreaterThan(0);
    });
  });
});
