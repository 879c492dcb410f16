// The order a batch of inbound messages is committed in: the messages of every number with an
// opt-out in the batch first (in their own, small transaction), then the rest. A number's messages
// never straddle the two parts, so each number's messages are still decided and committed in
// arrival order, and a STOP no longer waits for the decisions and rows of the whole batch. Pure.

/** Splits a batch into [numbers with an opt-out, the others], each in arrival order; drops empty parts. */
export function optOutsFirst<T extends { from: string }>(
  batch: readonly T[],
  isOptOut: (m: T) => boolean,
): T[][] {
  const urgent = new Set<string>();
  for (const m of batch) if (isOptOut(m)) urgent.add(m.from);
  if (!urgent.size || urgent.size === new Set(batch.map((m) => m.from)).size)
    return batch.length ? [[...batch]] : [];
  const first: T[] = [];
  const rest: T[] = [];
  for (const m of batch) (urgent.has(m.from) ? first : rest).push(m);
  return [first, rest];
}
