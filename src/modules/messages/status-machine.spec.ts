import { describe, expect, it } from 'vitest';
import { MessageStatus, STATUSES, TERMINAL_STATUSES } from './message.types';
import {
  ALLOWED_TRANSITIONS,
  MULTIPART_RULES,
  aggregateParts,
  canReaggregate,
  canTransition,
  rank,
} from './status-machine';

// The rules the table must keep, each stated on its own (the table itself lives once, in
// status-machine.ts).
const LIVE = ['accepted', 'queued', 'submitting', 'submitted', 'sent'] as const;

describe('canTransition', () => {
  it('is what the SQL statements enforce, pair for pair', () => {
    for (const from of STATUSES)
      for (const to of STATUSES)
        expect(ALLOWED_TRANSITIONS.includes(`${from}>${to}`), `${from}>${to}`).toBe(canTransition(from, to));
  });

  it('walks the forward path one step at a time, and a fence comes before any carrier answer', () => {
    const path: MessageStatus[] = ['accepted', 'queued', 'submitting', 'submitted', 'sent', 'delivered'];
    for (let i = 1; i < path.length; i++) expect(canTransition(path[i - 1], path[i])).toBe(true);
    expect(canTransition('accepted', 'submitted')).toBe(false);
    expect(canTransition('queued', 'submitted')).toBe(false);
    expect(canTransition('accepted', 'submitting')).toBe(true);
  });

  it('lets any live message fail or expire, and a carrier report rejected after submit', () => {
    for (const s of LIVE) {
      expect(canTransition(s, 'failed'), s).toBe(true);
      expect(canTransition(s, 'expired'), s).toBe(true);
      expect(canTransition(s, 'rejected'), s).toBe(true);
    }
  });

  it('suppresses only while the dispatcher holds the message, never after the carrier took it', () => {
    for (const s of ['accepted', 'queued', 'submitting'] as const)
      expect(canTransition(s, 'suppressed'), s).toBe(true);
    for (const s of ['submitted', 'sent'] as const) expect(canTransition(s, 'suppressed'), s).toBe(false);
  });

  it('ends as unknown only from submitting (an answer lost), never from what the carrier answered', () => {
    for (const s of STATUSES) expect(canTransition(s, 'unknown'), s).toBe(s === 'submitting');
  });

  it('never moves a message backwards', () => {
    for (const from of STATUSES)
      for (const to of STATUSES)
        if (canTransition(from, to) && from !== 'unknown') expect(rank(to)).toBeGreaterThan(rank(from));
  });

  it('keeps terminal statuses: a late ENROUTE/ACCEPTD (sent) never overwrites delivered', () => {
    for (const t of TERMINAL_STATUSES)
      for (const to of STATUSES) if (t !== 'unknown') expect(canTransition(t, to)).toBe(false);
    expect(canTransition('delivered', 'sent')).toBe(false);
  });

  it('moves unknown only to an outcome a carrier reports, never back into sending', () => {
    for (const to of [
      'accepted',
      'queued',
      'submitting',
      'submitted',
      'sent',
      'suppressed',
      'canceled',
    ] as const)
      expect(canTransition('unknown', to)).toBe(false);
    expect(canTransition('unknown', 'delivered')).toBe(true);
    expect(canTransition('submitted', 'unknown')).toBe(false);
  });

  it('does not cancel a message the dispatcher has already claimed', () => {
    expect(canTransition('submitting', 'canceled')).toBe(false);
    expect(canTransition('queued', 'canceled')).toBe(true);
  });

  it('lists each allowed pair once', () => {
    expect(new Set(ALLOWED_TRANSITIONS).size).toBe(ALLOWED_TRANSITIONS.length);
  });
});

describe('aggregateParts', () => {
  it('is the part itself for a single-part message', () => {
    for (const s of ['delivered', 'undelivered', 'failed', 'expired', 'rejected'] as const)
      for (const rule of MULTIPART_RULES) expect(aggregateParts([s], rule)).toBe(s);
    expect(aggregateParts(['submitted'])).toBe('submitted');
    expect(aggregateParts(['sent'])).toBe('sent');
  });

  it('any_failure: delivered only when every part is; the worst outcome as soon as one part fails', () => {
    expect(aggregateParts(['delivered', 'delivered', 'delivered'])).toBe('delivered');
    expect(aggregateParts(['delivered', 'submitted', 'delivered'])).toBe('sent');
    expect(aggregateParts(['submitted', 'submitted'])).toBe('submitted');
    expect(aggregateParts(['sent', 'submitted'])).toBe('sent');
    expect(aggregateParts(['delivered', 'failed', 'submitted'])).toBe('failed');
    expect(aggregateParts(['undelivered', 'submitted'])).toBe('undelivered');
    expect(aggregateParts(['undelivered', 'failed'])).toBe('failed');
    expect(aggregateParts(['expired', 'delivered'])).toBe('expired');
    expect(aggregateParts(['expired', 'undelivered'])).toBe('undelivered');
    expect(aggregateParts(['rejected', 'expired'])).toBe('rejected');
  });

  it('all_final: waits for every part', () => {
    expect(aggregateParts(['failed', 'submitted'], 'all_final')).toBe('sent');
    expect(aggregateParts(['failed', 'sent'], 'all_final')).toBe('sent');
    expect(aggregateParts(['failed', 'delivered'], 'all_final')).toBe('failed');
    expect(aggregateParts(['delivered', 'delivered'], 'all_final')).toBe('delivered');
    expect(aggregateParts(['undelivered', 'expired'], 'all_final')).toBe('undelivered');
  });

  it('any_delivered: one delivered part is enough; otherwise the worst once all are final', () => {
    expect(aggregateParts(['delivered', 'submitted'], 'any_delivered')).toBe('delivered');
    expect(aggregateParts(['failed', 'delivered'], 'any_delivered')).toBe('delivered');
    expect(aggregateParts(['failed', 'submitted'], 'any_delivered')).toBe('sent');
    expect(aggregateParts(['failed', 'undelivered'], 'any_delivered')).toBe('failed');
  });

  it('refuses an empty list of parts', () => {
    expect(() => aggregateParts([])).toThrow(/parts must not be empty/);
  });
});

describe('canReaggregate', () => {
  it('lets a multipart outcome become a worse-described one, never a better one', () => {
    expect(canReaggregate('undelivered', 'failed')).toBe(true);
    expect(canReaggregate('expired', 'undelivered')).toBe(true);
    expect(canReaggregate('failed', 'undelivered')).toBe(false);
    expect(canReaggregate('failed', 'failed')).toBe(false);
  });

  it('never touches delivered, suppressed, or a non-final aggregate', () => {
    expect(canReaggregate('delivered', 'failed')).toBe(false);
    expect(canReaggregate('suppressed', 'failed')).toBe(false);
    expect(canReaggregate('failed', 'sent')).toBe(false);
    expect(canReaggregate('sent', 'failed')).toBe(false);
  });
});
