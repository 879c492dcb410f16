// Runs asynchronous tasks a few at a time and hands their results on in the order the tasks were
// given: an import's batches are normalized in parallel but staged in file order, with a bounded
// number in flight so a fast upload cannot outrun the database by more than that.
export class InOrderRunner<T, R> {
  private readonly running: Promise<R>[] = [];

  constructor(
    private readonly run: (task: T) => Promise<R>,
    private readonly limit: number,
    private readonly onResult: (result: R) => Promise<void> | void,
  ) {
    if (limit < 1) throw new Error(`InOrderRunner: limit must be at least 1, not ${limit}`);
  }

  /** Tasks started whose results were not handed on yet. */
  get inFlight(): number {
    return this.running.length;
  }

  /**
   * Starts a task once fewer than `limit` are in flight, handing on the oldest results to make
   * room. Rejects with the first failure (of a task or of onResult); later tasks are then dropped.
   */
  async push(task: T): Promise<void> {
    while (this.running.length >= this.limit) await this.next();
    let p: Promise<R>;
    try {
      p = this.run(task);
    } catch (e) {
      p = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    // Awaited in order by next(); until then a failure must not count as unhandled.
    p.catch(() => undefined);
    this.running.push(p);
  }

  /** Hands on every result still in flight. */
  async drain(): Promise<void> {
    while (this.running.length) await this.next();
  }

  private async next(): Promise<void> {
    const p = this.running.shift()!;
    await this.onResult(await p);
  }
}
