import type { IterationRecord, SearchSink, TestRecord } from "../../src/engine/search/bwr";

/** A search sink for tests: keeps every iteration (with a copy of the population), test and log line; stops after `stopAfter`. */
export class MemorySink implements SearchSink {
  iterations: Array<{ record: IterationRecord; population: Float32Array[] }> = [];
  tests: TestRecord[] = [];
  lines: string[] = [];
  constructor(private readonly stopAfter = Number.POSITIVE_INFINITY) {}
  async iteration(record: IterationRecord, population: readonly Float32Array[]) {
    this.iterations.push({ record: structuredClone(record), population: population.map((slot) => slot.slice()) });
  }
  async test(record: TestRecord) {
    this.tests.push(record);
  }
  log(line: string) {
    this.lines.push(line);
  }
  async shouldStop() {
    return (this.iterations.at(-1)?.record.index ?? 0) >= this.stopAfter;
  }
}
