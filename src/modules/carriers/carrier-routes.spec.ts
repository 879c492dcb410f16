import { describe, expect, it } from 'vitest';
import { allowedFor, PrefixTable, SenderBook, stableChoice } from './carrier-routes';
import { CarriersConfigError, carriersFileSchema, defaultCarriersFile } from './carriers.config';

describe('PrefixTable', () => {
  const table = new PrefixTable(defaultCarriersFile().carriers);

  it.each([
    ['+12125550123', 'us-beta'], // Manhattan area code on the more specific carrier
    ['+14155552671', 'us-beta'],
    ['+12024561111', 'us-alpha'], // Washington DC falls back to +1
    ['+14165550123', 'us-alpha'], // Toronto shares +1
    ['+447400123456', 'eu-gamma'],
    ['+33612345678', 'eu-gamma'],
    ['+4915123456789', 'eu-gamma'],
    ['+819012345678', 'intl-delta'], // only the catch-all "+"
    ['+5511961234567', 'intl-delta'],
  ])('routes %s to %s (longest prefix wins)', (e164, carrier) => {
    expect(table.carrierOf(e164)?.id).toBe(carrier);
    expect(table.carrierOf(e164)?.id).toBe(carrier); // and again from its cache
  });

  it('finds nothing without a catch-all', () => {
    const t = new PrefixTable([{ id: 'uk', prefixes: ['+44'], segments_per_second: 10 }]);
    expect(t.carrierOf('+33612345678')).toBeUndefined();
    expect(t.carrierOf('+447400123456')?.id).toBe('uk');
  });

  it('refuses a prefix claimed by two carriers', () => {
    expect(
      () =>
        new PrefixTable([
          { id: 'a', prefixes: ['+44', '+4420'], segments_per_second: 10 },
          { id: 'b', prefixes: ['+4420'], segments_per_second: 10 },
        ]),
    ).toThrow(new CarriersConfigError('prefix +4420 belongs to both carrier "a" and "b"'));
  });
});

describe('SenderBook', () => {
  const file = (over: Record<string, unknown>) =>
    carriersFileSchema.parse({
      connectors: [{ id: 'smpp', kind: 'smpp' }],
      carriers: [{ id: 'all', prefixes: ['+'], segments_per_second: 10 }],
      senders: [
        { address: '+14155550100', kind: 'long_code', segments_per_second: 1, connector: 'smpp', pool: 'sf' },
        { address: '+14155550101', kind: 'long_code', segments_per_second: 1, connector: 'smpp', pool: 'sf' },
        { address: '72725', kind: 'short_code', segments_per_second: 100, connector: 'smpp' },
      ],
      ...over,
    });

  it('knows senders by address and pools by name', () => {
    const book = new SenderBook(file({ default_from: 'sf' }));
    expect(book.sender('72725')?.kind).toBe('short_code');
    expect(book.sender('+1 (415) 555-0100')?.address).toBe('+14155550100');
    expect(book.pools.get('sf')?.map((s) => s.address)).toEqual(['+14155550100', '+14155550101']);
  });

  it('refuses a default_from that names nothing', () => {
    expect(() => new SenderBook(file({ default_from: 'nyc' }))).toThrow(
      'default_from "nyc" is neither a sender address nor a pool',
    );
  });

  it('refuses a sender listed twice', () => {
    const f = file({});
    f.senders.push({ ...f.senders[2] });
    expect(() => new SenderBook(f)).toThrow('sender 72725 is listed twice');
  });
});

describe('allowedFor', () => {
  const sender = defaultCarriersFile().senders[0];
  it('allows every workspace when the sender names none, else only those named (by name or id)', () => {
    expect(allowedFor(sender, { id: 'w1', name: 'acme' })).toBe(true);
    const only = { ...sender, workspaces: ['acme'] };
    expect(allowedFor(only, { id: 'w1', name: 'acme' })).toBe(true);
    expect(allowedFor(only, { id: 'w2', name: 'globex' })).toBe(false);
    expect(allowedFor({ ...sender, workspaces: ['w2'] }, { id: 'w2', name: 'globex' })).toBe(true);
  });
});

describe('stableChoice', () => {
  const pool = defaultCarriersFile().senders.filter((s) => s.pool === 'default');
  const recipients = Array.from({ length: 4_000 }, (_, i) => `+1202555${String(i).padStart(4, '0')}`);

  it('gives a recipient the same sender every time, whatever the order of the pool', () => {
    for (const r of recipients.slice(0, 200)) {
      expect(stableChoice([...pool].reverse(), r)).toBe(stableChoice(pool, r));
    }
  });

  it('spreads recipients evenly over the pool', () => {
    const counts = new Map<string, number>();
    for (const r of recipients) {
      const s = stableChoice(pool, r).address;
      counts.set(s, (counts.get(s) ?? 0) + 1);
    }
    expect(counts.size).toBe(pool.length);
    for (const n of counts.values()) expect(n).toBeGreaterThan((recipients.length / pool.length) * 0.8);
  });

  it('moves only the new sender’s share when a sender joins the pool', () => {
    const grown = [...pool, { ...pool[0], address: '+14155550199' }];
    const moved = recipients.filter((r) => stableChoice(pool, r).address !== stableChoice(grown, r).address);
    expect(moved.every((r) => stableChoice(grown, r).address === '+14155550199')).toBe(true);
    expect(moved.length).toBeLessThan(recipients.length * 0.3);
  });
});
