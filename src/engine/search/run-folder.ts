import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { SearchState } from "./bwr";
import type { Orientation } from "./fitness";

/*
 * A search's folder, laid out as BWR_model users expect: search/<name>/utility_scratchpad.json, log.txt,
 * global_best/, global_worst/ (and global_best_recipe.yaml in recipe mode). The state/ folder holds resume
 * snapshots of the two latest iterations.
 */

export interface FinalMetrics {
  starting_best_validation_utility: number;
  starting_best_single_test_accuracy: number;
  ending_best_validation_utility: number;
  ending_best_single_test_accuracy: number;
  [key: string]: number;
}

/** A resume snapshot that cannot be trusted (truncated, overwritten, from another layout); resuming from it would fake results. */
export class SnapshotError extends Error {
  override name = "SnapshotError";
}

/** Written to a temporary file, flushed to disk, then renamed: after a crash the file is whole or absent, never torn. */
function writeAtomically(file: string, data: string | Uint8Array) {
  const temporary = `${file}.tmp-${process.pid}`;
  const handle = fs.openSync(temporary, "w");
  try {
    fs.writeFileSync(handle, data);
    fs.fsyncSync(handle);
  } finally {
    fs.closeSync(handle);
  }
  fs.renameSync(temporary, file);
  // The rename itself is durable only once the folder's entry is on disk.
  const folder = fs.openSync(path.dirname(file), "r");
  try {
    fs.fsyncSync(folder);
  } finally {
    fs.closeSync(folder);
  }
}

/*
 * Snapshot .bin layout (little-endian): magic "MSS1", slot count, values per slot (u32 each), the SHA-256 of the
 * values (32 bytes), then the float32 values slot after slot.
 */
const SNAPSHOT_MAGIC = 0x3153534d; // "MSS1"
const SNAPSHOT_HEADER_BYTES = 12 + 32;

function encodeSnapshot(population: readonly Float32Array[]): Uint8Array {
  const length = population[0]?.length ?? 0;
  const bytes = new Uint8Array(SNAPSHOT_HEADER_BYTES + population.length * length * 4);
  const values = bytes.subarray(SNAPSHOT_HEADER_BYTES);
  population.forEach((slot, index) => values.set(new Uint8Array(slot.buffer, slot.byteOffset, slot.byteLength), index * length * 4));
  const header = new DataView(bytes.buffer);
  header.setUint32(0, SNAPSHOT_MAGIC, true);
  header.setUint32(4, population.length, true);
  header.setUint32(8, length, true);
  bytes.set(createHash("sha256").update(values).digest(), 12);
  return bytes;
}

function decodeSnapshot(file: string, bytes: Buffer): Float32Array[] {
  const damaged = (why: string) => new SnapshotError(`${file}: damaged resume snapshot (${why}); the run cannot resume from it`);
  if (bytes.byteLength < SNAPSHOT_HEADER_BYTES) throw damaged(`${bytes.byteLength} bytes, shorter than its ${SNAPSHOT_HEADER_BYTES}-byte header`);
  const header = new DataView(bytes.buffer, bytes.byteOffset, SNAPSHOT_HEADER_BYTES);
  if (header.getUint32(0, true) !== SNAPSHOT_MAGIC) throw damaged("not a snapshot of this version: unknown header");
  const slots = header.getUint32(4, true);
  const length = header.getUint32(8, true);
  const expected = SNAPSHOT_HEADER_BYTES + slots * length * 4;
  if (bytes.byteLength !== expected) throw damaged(`${bytes.byteLength} bytes; ${slots} slots of ${length} values take ${expected}`);
  const values = bytes.subarray(SNAPSHOT_HEADER_BYTES);
  if (!createHash("sha256").update(values).digest().equals(bytes.subarray(12, SNAPSHOT_HEADER_BYTES))) throw damaged("its checksum does not match its values");
  const data = new Float32Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  return Array.from({ length: slots }, (_, slot) => data.subarray(slot * length, (slot + 1) * length));
}

/** A run folder that cannot be used; `field` is the config field at fault. */
function isSymlink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

export class RunFolderError extends Error {
  override name = "RunFolderError";
  constructor(
    readonly field: "name" | "outputRoot",
    message: string,
  ) {
    super(message);
  }
}

/** The nearest existing path at or above `target`. */
function nearestExisting(target: string): string {
  let current = target;
  while (!fs.existsSync(current) && path.dirname(current) !== current) current = path.dirname(current);
  return current;
}

export class RunFolder {
  readonly root: string;
  readonly dir: string;

  /** The folder `name` directly inside `root`; anything else (".", "..", "a/b", an absolute path) is refused. */
  constructor(root: string, name: string) {
    this.root = path.resolve(root);
    this.dir = path.resolve(this.root, name);
    // Clean-up removes <dir>/state: the folder must be a child of the root, never the root or above it.
    if (path.dirname(this.dir) !== this.root || path.basename(this.dir) !== name) {
      throw new RunFolderError("name", `"${name}" does not name a folder inside ${this.root}; use letters, digits, dots, dashes or underscores, not only dots`);
    }
  }

  /**
   * Throws unless the folder can be created or reused here: the root (or what of it exists) is a folder, and an
   * existing run folder is a folder whose real path (symlinks resolved) is still inside the root's.
   */
  checkUsable() {
    const existing = nearestExisting(this.root);
    if (!fs.statSync(existing).isDirectory()) {
      throw new RunFolderError("outputRoot", `${existing} is a file, not a folder${existing === this.root ? "" : ` (on the way to ${this.root})`}`);
    }
    if (!fs.existsSync(this.dir) && !isSymlink(this.dir)) return;
    let real: string;
    try {
      real = fs.realpathSync(this.dir);
    } catch {
      throw new RunFolderError("name", `${this.dir} is a link to nothing; remove it or choose another name`);
    }
    if (path.dirname(real) !== fs.realpathSync(this.root)) throw new RunFolderError("name", `${this.dir} leads outside ${this.root} (to ${real}); choose another name`);
    if (!fs.statSync(real).isDirectory()) throw new RunFolderError("name", `${this.dir} exists and is not a folder; choose another name`);
  }

  get stateDir() {
    return path.join(this.dir, "state");
  }

  candidateDir(candidate: number) {
    return path.join(this.dir, `candidate_${candidate}`);
  }

  get globalBestDir() {
    return path.join(this.dir, "global_best");
  }

  get globalWorstDir() {
    return path.join(this.dir, "global_worst");
  }

  /** What the run's row records of an adapter folder written here: where it is, and its weights' size and SHA-256. */
  async adapterDigest(dir: string): Promise<{ path: string; sizeBytes: number; sha256: string }> {
    const weights = await fs.promises.readFile(path.join(dir, "adapter_model.safetensors"));
    return { path: path.relative(this.dir, dir), sizeBytes: weights.byteLength, sha256: createHash("sha256").update(weights).digest("hex") };
  }

  /** mergekit's recipe of the global best (recipe mode), whole or absent after a crash like every file of the run. */
  writeRecipe(yaml: string) {
    writeAtomically(path.join(this.dir, "global_best_recipe.yaml"), yaml);
  }

  create(config: unknown) {
    fs.mkdirSync(this.stateDir, { recursive: true });
    writeAtomically(path.join(this.dir, "args.json"), `${JSON.stringify(config, null, 2)}\n`);
  }

  log(line: string) {
    fs.appendFileSync(path.join(this.dir, "log.txt"), `${new Date().toISOString()} ${line}\n`);
  }

  /**
   * BWR_model's scratchpad (best, worst, history, candidate_i, candidate_i_history) plus per-candidate bests: the
   * highest utility of each, or the lowest where lower is better (`orientation` −1).
   */
  writeScratchpad(state: SearchState, orientation: Orientation = 1) {
    const scratchpad: Record<string, unknown> = {
      best: state.best,
      worst: state.worst,
      history: state.bestHistory,
      worst_history: state.worstHistory,
      iteration: state.iteration,
      step_length: state.stepLength,
    };
    state.scores.forEach((score, candidate) => {
      scratchpad[`candidate_${candidate}`] = score;
      scratchpad[`candidate_${candidate}_best`] = orientation * Math.max(...state.histories[candidate]!.map((utility) => orientation * utility));
      scratchpad[`candidate_${candidate}_history`] = state.histories[candidate];
    });
    writeAtomically(path.join(this.dir, "utility_scratchpad.json"), `${JSON.stringify(scratchpad, null, 4)}\n`);
  }

  /**
   * BWR_model's --to_visualize: per candidate, two coordinates after each iteration. Weights mode: its first value and
   * the one half-way along its vector (BWR_model reads one value of layer 0's and one of layer 10's k_proj); recipe
   * mode: its first two weights. Entry k is iteration k's, so a resumed run rewrites rather than repeats one.
   */
  recordTrajectory(iteration: number, candidates: readonly Float32Array[]) {
    this.appendPerCandidate("trajectory.json", iteration, candidates.map((vector) => [vector[0] ?? 0, vector[vector.length > 1 ? Math.floor(vector.length / 2) : 0] ?? 0]));
  }

  /**
   * BWR_model's --correctness_emergence: per candidate, 1 or 0 for each dev question after each iteration; a candidate
   * not evaluated in an iteration (--dropK, --dropN) keeps its last answers, as BWR_model reads them from its files.
   */
  recordCorrectness(iteration: number, candidates: number, evaluated: ReadonlyArray<{ candidate: number; correct: readonly boolean[] }>) {
    const fresh = new Map(evaluated.map(({ candidate, correct }) => [candidate, correct.map(Number)]));
    this.appendPerCandidate("correctness_emergence.json", iteration, Array.from({ length: candidates }, (_, candidate) => fresh.get(candidate) ?? null));
  }

  /** `file` as {candidate: [entry of iteration 0, 1, …]}; a null entry repeats the candidate's previous one. */
  private appendPerCandidate(file: string, iteration: number, entries: ReadonlyArray<unknown>) {
    const target = path.join(this.dir, file);
    const previous = fs.existsSync(target) ? (JSON.parse(fs.readFileSync(target, "utf8")) as Record<string, unknown[]>) : {};
    const next: Record<string, unknown[]> = {};
    entries.forEach((entry, candidate) => {
      const history = (previous[candidate] ?? []).slice(0, iteration);
      next[candidate] = [...history, entry ?? history.at(-1) ?? null];
    });
    writeAtomically(target, `${JSON.stringify(next)}\n`);
  }

  writeFinalMetrics(metrics: FinalMetrics) {
    for (const [key, value] of Object.entries(metrics)) this.log(`${key}: ${value}`);
    writeAtomically(path.join(this.dir, "metrics.json"), `${JSON.stringify(metrics, null, 2)}\n`);
  }

  /** Writes iteration `index`'s resume point; keeps it and the one before (the store may lag one behind). */
  saveSnapshot(index: number, state: SearchState, population: readonly Float32Array[]) {
    writeAtomically(path.join(this.stateDir, `iteration-${index}.bin`), encodeSnapshot(population));
    writeAtomically(path.join(this.stateDir, `iteration-${index}.json`), JSON.stringify(state));
    for (const file of fs.readdirSync(this.stateDir)) {
      const match = /^iteration-(\d+)\.(bin|json)$/.exec(file);
      if (match && Number(match[1]) < index - 1) fs.rmSync(path.join(this.stateDir, file));
    }
  }

  /** The starting population (after populate), which weights mode's distances are measured from, for resumes too. */
  saveStartingPopulation(population: readonly Float32Array[]) {
    writeAtomically(path.join(this.stateDir, "starting.bin"), encodeSnapshot(population));
  }

  /** null for a run started before the starting population was kept. */
  loadStartingPopulation(): Float32Array[] | null {
    const file = path.join(this.stateDir, "starting.bin");
    return fs.existsSync(file) ? decodeSnapshot(file, fs.readFileSync(file)) : null;
  }

  loadSnapshot(index: number): { state: SearchState; population: Float32Array[] } {
    const stateFile = path.join(this.stateDir, `iteration-${index}.json`);
    const binFile = path.join(this.stateDir, `iteration-${index}.bin`);
    if (!fs.existsSync(stateFile) || !fs.existsSync(binFile)) {
      throw new Error(`${this.dir}: no resume snapshot for iteration ${index} in state/ (the run folder was moved or cleaned)`);
    }
    const population = decodeSnapshot(binFile, fs.readFileSync(binFile));
    let state: SearchState;
    try {
      state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as SearchState;
    } catch (error) {
      throw new SnapshotError(`${stateFile}: damaged resume snapshot (${(error as Error).message}); the run cannot resume from it`);
    }
    if (state?.iteration !== index || state.scores?.length !== population.length - 2) {
      throw new SnapshotError(`${stateFile}: damaged resume snapshot (it does not describe iteration ${index} of these ${population.length - 2} candidates); the run cannot resume from it`);
    }
    return { state, population };
  }
}
