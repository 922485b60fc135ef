import fs from "node:fs";
import path from "node:path";
import type { SearchState } from "./bwr";

/*
 * A search's folder, laid out as BWR_model users expect: search/<name>/utility_scratchpad.json, log.txt,
 * global_best/, global_worst/. The state/ folder holds resume snapshots of the two latest iterations.
 */

export interface FinalMetrics {
  starting_best_validation_utility: number;
  starting_best_single_test_accuracy: number;
  ending_best_validation_utility: number;
  ending_best_single_test_accuracy: number;
  [key: string]: number;
}

function writeAtomically(file: string, data: string | Uint8Array) {
  const temporary = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(temporary, data);
  fs.renameSync(temporary, file);
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

  create(config: unknown) {
    fs.mkdirSync(this.stateDir, { recursive: true });
    writeAtomically(path.join(this.dir, "args.json"), `${JSON.stringify(config, null, 2)}\n`);
  }

  log(line: string) {
    fs.appendFileSync(path.join(this.dir, "log.txt"), `${new Date().toISOString()} ${line}\n`);
  }

  /** BWR_model's scratchpad (best, worst, history, candidate_i, candidate_i_history) plus per-candidate bests. */
  writeScratchpad(state: SearchState) {
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
      scratchpad[`candidate_${candidate}_best`] = Math.max(...state.histories[candidate]!);
      scratchpad[`candidate_${candidate}_history`] = state.histories[candidate];
    });
    writeAtomically(path.join(this.dir, "utility_scratchpad.json"), `${JSON.stringify(scratchpad, null, 4)}\n`);
  }

  writeFinalMetrics(metrics: FinalMetrics) {
    for (const [key, value] of Object.entries(metrics)) this.log(`${key}: ${value}`);
    writeAtomically(path.join(this.dir, "metrics.json"), `${JSON.stringify(metrics, null, 2)}\n`);
  }

  /** Writes iteration `index`'s resume point; keeps it and the one before (the store may lag one behind). */
  saveSnapshot(index: number, state: SearchState, population: readonly Float32Array[]) {
    const length = population[0]?.length ?? 0;
    const header = new Uint32Array([population.length, length]);
    const body = new Uint8Array(8 + population.length * length * 4);
    body.set(new Uint8Array(header.buffer), 0);
    population.forEach((slot, index) => body.set(new Uint8Array(slot.buffer, slot.byteOffset, slot.byteLength), 8 + index * length * 4));
    writeAtomically(path.join(this.stateDir, `iteration-${index}.bin`), body);
    writeAtomically(path.join(this.stateDir, `iteration-${index}.json`), JSON.stringify(state));
    for (const file of fs.readdirSync(this.stateDir)) {
      const match = /^iteration-(\d+)\.(bin|json)$/.exec(file);
      if (match && Number(match[1]) < index - 1) fs.rmSync(path.join(this.stateDir, file));
    }
  }

  loadSnapshot(index: number): { state: SearchState; population: Float32Array[] } {
    const stateFile = path.join(this.stateDir, `iteration-${index}.json`);
    const binFile = path.join(this.stateDir, `iteration-${index}.bin`);
    if (!fs.existsSync(stateFile) || !fs.existsSync(binFile)) {
      throw new Error(`${this.dir}: no resume snapshot for iteration ${index} in state/ (the run folder was moved or cleaned)`);
    }
    const bytes = fs.readFileSync(binFile);
    const [slots, length] = new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 8));
    const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 8, bytes.byteOffset + bytes.byteLength));
    const population = Array.from({ length: slots! }, (_, slot) => data.slice(slot * length!, (slot + 1) * length!));
    return { state: JSON.parse(fs.readFileSync(stateFile, "utf8")) as SearchState, population };
  }
}
