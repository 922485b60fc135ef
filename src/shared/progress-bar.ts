/*
 * The import's progress on a terminal: on a TTY one bar redrawn in place, elsewhere (a log, CI) one plain line as
 * each phase starts and ends, so a file never fills with carriage returns. Takes `{ phase, done, total }` reports, the
 * shape importModel and expert extraction both give (ImportProgress; restated here, as src/shared imports nothing).
 */

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export interface Progress {
  phase: string;
  done: number;
  total: number;
}

export interface ProgressBar {
  update(progress: Progress): void;
  /** Ends the bar's line, so what is printed next starts on its own. */
  finish(): void;
}

const BAR_WIDTH = 24;

function fraction({ done, total }: Progress): number {
  return total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
}

export function progressBar(stream: ProgressStream, label: string): ProgressBar {
  let drawn = false;
  let lastPhase: string | null = null;
  if (stream.isTTY) {
    return {
      update(progress) {
        const filled = Math.round(fraction(progress) * BAR_WIDTH);
        const line = `${label} [${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${progress.phase} ${progress.done}/${progress.total}`;
        // A terminal that tells no width (0, as under `script`) gets 80 columns; \x1b[K clears what a longer line left.
        const width = stream.columns || 80;
        stream.write(`\r${line.slice(0, width - 1)}\x1b[K`);
        drawn = true;
      },
      finish() {
        if (drawn) stream.write("\n");
        drawn = false;
      },
    };
  }
  return {
    update(progress) {
      const ended = progress.total > 0 && progress.done >= progress.total;
      if (progress.phase === lastPhase && !ended) return;
      lastPhase = ended ? null : progress.phase;
      stream.write(`${label}: ${progress.phase} ${progress.done}/${progress.total}${ended ? " done" : ""}\n`);
    },
    finish() {},
  };
}
