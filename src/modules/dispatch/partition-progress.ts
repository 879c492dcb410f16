// Which offset of a partition may be committed: messages finish out of order (lanes, retries,
// carriers at different speeds), but an offset is committed only once it and every offset before
// it are durable. Pure.

export class PartitionProgress {
  private readonly offsets: bigint[] = [];
  private readonly finished = new Set<bigint>();
  private head = 0;

  /** Registers an offset as taken in; offsets arrive in increasing order per partition. */
  track(offset: string): void {
    const o = BigInt(offset);
    const last = this.offsets[this.offsets.length - 1];
    if (last !== undefined && o <= last) return; // fetched again (seek after an error): already tracked
    this.offsets.push(o);
  }

  /**
   * Marks an offset durable. Returns the highest offset now safe to resolve (everything up to it
   * is durable), or undefined when an earlier one is still open.
   */
  finish(offset: string): string | undefined {
    this.finished.add(BigInt(offset));
    let last: bigint | undefined;
    while (this.head < this.offsets.length && this.finished.has(this.offsets[this.head])) {
      last = this.offsets[this.head];
      this.finished.delete(last);
      this.head++;
    }
    if (this.head > 4096) {
      this.offsets.splice(0, this.head);
      this.head = 0;
    }
    return last === undefined ? undefined : last.toString();
  }

  /** Offsets taken in and not yet resolvable. */
  get open(): number {
    return this.offsets.length - this.head;
  }
}
