import { describe, expect, it } from 'vitest';
import { optOutsFirst } from './opt-outs-first';

const m = (from: string, body: string) => ({ from, body });
const isStop = (x: { body: string }) => x.body === 'STOP';

describe('optOutsFirst', () => {
  it('puts every message of a number with a STOP first, in arrival order, and keeps the rest in order', () => {
    const batch = [
      m('a', 'hi'),
      m('b', 'YES'),
      m('a', 'where?'),
      m('b', 'STOP'),
      m('c', 'ok'),
      m('b', 'thanks'),
    ];
    expect(optOutsFirst(batch, isStop)).toEqual([
      [m('b', 'YES'), m('b', 'STOP'), m('b', 'thanks')],
      [m('a', 'hi'), m('a', 'where?'), m('c', 'ok')],
    ]);
  });

  it('leaves a batch without opt-outs, or with only opt-out numbers, whole', () => {
    const none = [m('a', 'hi'), m('b', 'ok')];
    expect(optOutsFirst(none, isStop)).toEqual([none]);
    const all = [m('a', 'STOP'), m('a', 'hi'), m('b', 'STOP')];
    expect(optOutsFirst(all, isStop)).toEqual([all]);
    expect(optOutsFirst([], isStop)).toEqual([]);
  });
});
