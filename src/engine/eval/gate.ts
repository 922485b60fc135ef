/** At most `limit` tasks in flight; the rest wait their turn in order. Scorers behind HTTP share one per endpoint. */
export class Gate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active += 1;
    try {
      return await task();
    } finally {
      this.active -= 1;
      this.waiting.shift()?.();
    }
  }
}

const gates = new Map<string, Gate>();

/** The gate of one endpoint, made with the first limit asked for it. */
export function gateFor(endpoint: string, limit: number): Gate {
  let gate = gates.get(endpoint);
  if (!gate) gates.set(endpoint, (gate = new Gate(limit)));
  return gate;
}
