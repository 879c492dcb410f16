import { describe, expect, it } from 'vitest';
import { classifyReply } from './classifier';
import { AUTO_REPLY_LOOP_LIMIT, DecisionInput, decide } from './reply-decision';

const settings = {
  opt_out_scope: 'workspace' as const,
  help_text: 'HELP TEXT',
  opt_out_confirmation: 'STOP CONFIRMATION',
  opt_in_confirmation: 'START CONFIRMATION',
};
const input = (text: string, over: Partial<DecisionInput> = {}): DecisionInput => ({
  classification: classifyReply(text),
  text,
  optedOut: false,
  handlers: [],
  settings,
  recentAutoReplies: 0,
  ...over,
});
const kinds = (d: ReturnType<typeof decide>) =>
  d.actions.map((a) => (a.kind === 'auto_reply' ? `auto_reply:${a.purpose}` : a.kind));

describe('decide', () => {
  it('commits an opt-out first and confirms it exactly once', () => {
    expect(kinds(decide(input('STOP')))).toEqual(['opt_out', 'auto_reply:opt_out_confirmation']);
    // Already opted out: recorded again (evidence) but never answered again.
    expect(kinds(decide(input('stop', { optedOut: true })))).toEqual(['opt_out']);
  });

  it('confirms an opt-out even when the auto-reply loop guard is tripped', () => {
    expect(kinds(decide(input('STOP', { recentAutoReplies: AUTO_REPLY_LOOP_LIMIT + 5 })))).toEqual([
      'opt_out',
      'auto_reply:opt_out_confirmation',
    ]);
  });

  it('scopes the opt-out as the workspace says', () => {
    const d = decide(input('unsubscribe', { settings: { ...settings, opt_out_scope: 'sender' } }));
    expect(d.actions[0]).toEqual({ kind: 'opt_out', scope: 'sender' });
  });

  it('reads YES as an opt-in from an opted-out number and as a confirmation otherwise', () => {
    expect(decide(input('YES', { optedOut: true })).intent).toBe('opt_in');
    expect(kinds(decide(input('YES', { optedOut: true })))).toEqual([
      'opt_in',
      'auto_reply:opt_in_confirmation',
    ]);
    const matched = { campaignId: 'c1', type: 'marketing' as const, hasOrderContext: false };
    const yes = decide(
      input('Yes', {
        matched,
        handlers: [{ intent: 'confirm', record: 'confirmation', auto_reply: 'See you!' }],
      }),
    );
    expect(yes.intent).toBe('confirm');
    expect(kinds(yes)).toEqual(['record', 'auto_reply:handler']);
  });

  it('answers HELP, and START re-subscribes only an opted-out number', () => {
    expect(kinds(decide(input('HELP')))).toEqual(['auto_reply:help']);
    expect(kinds(decide(input('START', { optedOut: true })))).toEqual([
      'opt_in',
      'auto_reply:opt_in_confirmation',
    ]);
    expect(kinds(decide(input('START')))).toEqual(['auto_reply:opt_in_confirmation']);
  });

  it('sends order questions to the webhook and the inbox', () => {
    const matched = { campaignId: null, type: 'transactional' as const, hasOrderContext: true };
    const d = decide(
      input('any update on my delivery?', {
        matched,
        settings: { ...settings, reply_webhook_url: 'https://logistics.example/hook' },
      }),
    );
    expect(d.intent).toBe('order_question');
    expect(d.actions).toEqual([
      { kind: 'webhook', url: 'https://logistics.example/hook' },
      { kind: 'inbox' },
    ]);
  });

  it('never auto-replies to an opted-out number from a handler, and stops replying to a chatty bot', () => {
    const matched = { campaignId: 'c1', type: 'marketing' as const, hasOrderContext: false };
    const handlers = [{ keyword: 'MENU', auto_reply: 'Our menu…' }];
    expect(kinds(decide(input('menu', { matched, handlers, optedOut: true })))).toEqual([]);
    expect(kinds(decide(input('menu', { matched, handlers })))).toEqual(['auto_reply:handler']);
    expect(
      kinds(decide(input('menu', { matched, handlers, recentAutoReplies: AUTO_REPLY_LOOP_LIMIT }))),
    ).toEqual([]);
    expect(kinds(decide(input('HELP', { recentAutoReplies: AUTO_REPLY_LOOP_LIMIT })))).toEqual([]);
  });

  it('puts free text in the inbox', () => {
    expect(kinds(decide(input('Who is this?')))).toEqual(['inbox']);
  });
});
