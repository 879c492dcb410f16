import { describe, expect, it } from 'vitest';
import type { AppliedChange, StatusChange } from '../messages/message-record';
import type { DecidedRow } from './dispatch-record.repository';
import { StatusBatcher, StatusWriter, Submitted } from './status-batcher';

/** A repository whose writes finish only when the test says so, recording what each write held. */
function slowRepo() {
  const writes: { ids: string[]; finish: () => void }[] = [];
  const applied = (id: string, status: string) => ({ id, status }) as unknown as AppliedChange;
  const repo = {
    markSubmitted: (rows: readonly Submitted[]) =>
      new Promise<AppliedChange[]>((resolve) =>
        writes.push({
          ids: rows.map((r) => r.id),
          finish: () => resolve(rows.map((r) => applied(r.id, 'submitted'))),
        }),
      ),
    decide: (items: readonly DecidedRow[]) =>
      new Promise<AppliedChange[]>((resolve) =>
        writes.push({
          ids: items.map((i) => i.row.id),
          finish: () => resolve(items.map((i) => applied(i.row.id, i.change.status))),
        }),
      ),
  } satisfies StatusWriter;
  return { repo, writes };
}

const submittedRow = (id: string): Submitted => ({
  id,
  workspaceId: 'w',
  carrierId: 'alpha',
  connectorId: 'smpp',
  carrierMessageIds: [`c-${id}`],
  receiptKeys: [`c-${id}`],
  submittedAt: new Date(),
});
const tick = () => new Promise((r) => setTimeout(r, 5));
/** A final status the dispatcher decides, with the row it writes if there is none. */
const decided = (change: StatusChange): DecidedRow => ({
  row: {
    id: change.id,
    workspaceId: 'w',
    type: 'transactional',
    to: '+1',
    sender: 's',
    body: 'b',
    encoding: 'GSM-7',
    segments: 1,
  },
  change,
});

describe('StatusBatcher', () => {
  it('overlaps writes up to its concurrency, each up to maxBatch', async () => {
    const { repo, writes } = slowRepo();
    const b = new StatusBatcher(repo, { lingerMs: 1, maxBatch: 2, concurrency: 2 });
    const done = ['a', 'b', 'c', 'd', 'e'].map((id) => b.markSubmitted(submittedRow(id)));
    await tick();
    expect(writes.map((w) => w.ids)).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    writes[0].finish();
    await tick();
    expect(writes.map((w) => w.ids)).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    writes[1].finish();
    writes[2].finish();
    expect((await Promise.all(done)).map((a) => a?.status)).toEqual(Array(5).fill('submitted'));
  });

  it("never writes a message's next change while its previous one is being written", async () => {
    const { repo, writes } = slowRepo();
    const b = new StatusBatcher(repo, { lingerMs: 1, maxBatch: 100, concurrency: 3 });
    const first = b.markSubmitted(submittedRow('a'));
    await tick();
    const second = b.decide(decided({ id: 'a', status: 'failed', at: new Date() }));
    const other = b.decide(decided({ id: 'b', status: 'failed', at: new Date() }));
    await tick();
    // b goes at once; a's second change waits for its first write.
    expect(writes.map((w) => w.ids)).toEqual([['a'], ['b']]);
    writes[0].finish();
    await first;
    await tick();
    expect(writes.map((w) => w.ids)).toEqual([['a'], ['b'], ['a']]);
    writes[1].finish();
    writes[2].finish();
    expect((await second)?.status).toBe('failed');
    expect((await other)?.status).toBe('failed');
  });

  it('flush waits for everything pending, including what waited for a write in progress', async () => {
    const { repo, writes } = slowRepo();
    const b = new StatusBatcher(repo, { lingerMs: 1_000, maxBatch: 100, concurrency: 2 });
    void b.markSubmitted(submittedRow('a'));
    void b.decide(decided({ id: 'a', status: 'failed', at: new Date() }));
    let flushed = false;
    const f = b.flush().then(() => (flushed = true));
    // Finishes whatever write is open, as Postgres would.
    for (let i = 0; i < 20 && !flushed; i++) {
      await tick();
      for (const w of writes.splice(0)) w.finish();
    }
    await f;
    expect(flushed).toBe(true);
  });
});
