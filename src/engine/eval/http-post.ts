/** One reply read: its value, or why to ask again. */
export type Reading<T> = { value: T } | { retry: string };

/**
 * POSTs `body` as JSON until `read` gets a value from the reply, at most `retries` + 1 times with exponential backoff:
 * a timeout, a network error, 429 or 5xx asks again; another non-2xx status, or an error `read` throws, is final. The
 * scorers behind HTTP (external_api, the LLM judge) share it. Errors are `options.error`s, whose message starts with
 * `options.who`; `failed` words the last problem once every attempt is spent.
 */
export async function postJson<T>(
  url: string,
  body: unknown,
  options: { timeoutMs: number; retries: number; backoffMs: number; headers?: Record<string, string>; who: string; error: new (message: string) => Error; failed: (problem: string) => string },
  read: (reply: unknown) => Reading<T>,
): Promise<T> {
  let lastProblem = "";
  for (let attempt = 0; attempt <= options.retries; attempt += 1) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, options.backoffMs * 2 ** (attempt - 1)));
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...options.headers },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      if (response.status === 429 || response.status >= 500) {
        lastProblem = `HTTP ${response.status}`;
        continue;
      }
      if (!response.ok) throw new options.error(`${options.who}: ${url} answered HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
      const reading = read(await response.json().catch(() => undefined));
      if ("value" in reading) return reading.value;
      lastProblem = reading.retry;
    } catch (error) {
      if (error instanceof options.error) throw error;
      lastProblem = (error as Error).name === "TimeoutError" ? `no answer within ${options.timeoutMs} ms` : (error as Error).message;
    }
  }
  throw new options.error(options.failed(lastProblem));
}
