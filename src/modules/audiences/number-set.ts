// A set of phone numbers as digits (positive integers below 2^53): an import remembers every number
// of its file to tell the first occurrence from repeats. A Set<number> of a million numbers boxes
// each one (about 40 MB) and hashes slowly; open addressing over a Float64Array does neither.
// Pure: no framework, no I/O.
export class NumberSet {
  private slots: Float64Array;
  private mask: number;
  private count = 0;

  constructor(expected = 1 << 16) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.slots = new Float64Array(cap);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Adds `n` (an integer, 0 < n < 2^53); false when it was already there. */
  add(n: number): boolean {
    if (!(n > 0 && n <= Number.MAX_SAFE_INTEGER && Number.isInteger(n))) {
      throw new RangeError(`NumberSet: ${n} is not a positive safe integer`);
    }
    let i = slotOf(n) & this.mask;
    while (true) {
      const v = this.slots[i];
      if (v === 0) break; // 0 marks an empty slot
      if (v === n) return false;
      i = (i + 1) & this.mask;
    }
    this.slots[i] = n;
    if (++this.count * 2 > this.slots.length) this.grow();
    return true;
  }

  has(n: number): boolean {
    let i = slotOf(n) & this.mask;
    while (true) {
      const v = this.slots[i];
      if (v === 0) return false;
      if (v === n) return true;
      i = (i + 1) & this.mask;
    }
  }

  private grow() {
    const old = this.slots;
    this.slots = new Float64Array(old.length * 2);
    this.mask = this.slots.length - 1;
    for (const v of old) {
      if (v === 0) continue;
      let i = slotOf(v) & this.mask;
      while (this.slots[i] !== 0) i = (i + 1) & this.mask;
      this.slots[i] = v;
    }
  }
}

/** Mixes both 32-bit halves of the number (neighbouring numbers must not share runs of slots). */
function slotOf(n: number): number {
  const lo = n >>> 0;
  const hi = (n / 4294967296) >>> 0;
  let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
