import { describe, expect, it } from 'vitest';
import { isTransient, isolatePoison, reasonOf } from './poison';

const dataError = Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), {
  code: '22021',
});
const dbDown = Object.assign(new Error('Connection terminated unexpectedly'), {});
const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('isTransient', () => {
  it('tells a dependency away from a record the database refuses', () => {
    expect(isTransient(dataError)).toBe(false);
    expect(isTransient(Object.assign(new Error('x'), { code: '23505' }))).toBe(false);
    expect(isTransient(new TypeError("Cannot read properties of undefined (reading 'length')"))).toBe(false);
    expect(isTransient(dbDown)).toBe(true);
    expect(isTransient(refused)).toBe(true);
    expect(
      isTransient(Object.assign(new Error('the database system is shutting down'), { code: '57P03' })),
    ).toBe(true);
    expect(isTransient(Object.assign(new Error('deadlock'), { code: '40P01' }))).toBe(true);
    expect(isTransient(Object.assign(new Error('x'), { name: 'KafkaJSConnectionError' }))).toBe(true);
  });
});

describe('isolatePoison', () => {
  it('dead-letters only the records that keep failing, in order, and runs the rest', async () => {
    const done: string[] = [];
    const dead: string[] = [];
    let calls = 0;
    await isolatePoison(
      ['a', 'bad', 'b'],
      async (items) => {
        calls++;
        if (items.includes('bad')) throw dataError;
        done.push(...items);
      },
      { attempts: 3, poisoned: async (i) => void dead.push(i) },
    );
    expect(done).toEqual(['a', 'b']);
    expect(dead).toEqual(['bad']);
    // The batch once, then a, bad three times, b.
    expect(calls).toBe(6);
  });

  it('throws a dependency failure instead of dead-lettering anything', async () => {
    const dead: string[] = [];
    await expect(
      isolatePoison(['a', 'b'], async () => Promise.reject(dbDown), {
        attempts: 3,
        poisoned: async (i) => void dead.push(i),
      }),
    ).rejects.toBe(dbDown);
    expect(dead).toEqual([]);
  });

  it('keeps a reason printable and short', () => {
    expect(reasonOf(dataError)).toBe('22021: invalid byte sequence for encoding "UTF8": 0x00');
    expect(reasonOf(new Error('a\u0000b'.repeat(200))).length).toBeLessThanOrEqual(300);
  });
});
