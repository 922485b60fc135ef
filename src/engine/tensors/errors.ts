/** A problem with a tensor file or adapter folder; the message names the file and the problem. */
export class TensorFileError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = "TensorFileError";
  }
}

/** Experts that cannot be merged together (different keys, shapes, rank or target modules). */
export class ExpertMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExpertMismatchError";
  }
}
