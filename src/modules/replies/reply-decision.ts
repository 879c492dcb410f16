// What the router does with one classified reply. Pure: every rule of compliance and of reply
// handling is decided here and tested without a database; the router only carries it out.
//
// Order matters. An opt-out is committed before anything else happens for that number and is
// answered by exactly one confirmation (none when the number was already opted out, so a repeated
// STOP never causes another message). YES from an opted-out number re-subscribes; from a number that
// is opted in it is a confirmation for the campaign. HELP is always answered. Nothing else is
// auto-answered for an opted-out number, and nothing at all answers an auto-reply or loops.
import type { ReplyHandler } from './reply-handlers';
import { handlerFor } from './reply-handlers';
import type { ReplyClassification } from './classifier';

export type RouterAction =
  | { kind: 'opt_out'; scope: 'workspace' | 'sender' }
  | { kind: 'opt_in' }
  | {
      kind: 'auto_reply';
      template: string;
      purpose: 'opt_out_confirmation' | 'opt_in_confirmation' | 'help' | 'handler';
    }
  | { kind: 'record'; value: 'confirmation' | 'decline' }
  | { kind: 'webhook'; url: string }
  | { kind: 'inbox' };

export interface DecisionInput {
  classification: ReplyClassification;
  text: string;
  /** Opted out for this sender (or the whole workspace) before this reply. */
  optedOut: boolean;
  /** The message this reply answers, if any (within the reply window). */
  matched?: { campaignId: string | null; type: 'transactional' | 'marketing'; hasOrderContext: boolean };
  handlers: readonly ReplyHandler[];
  settings: {
    opt_out_scope: 'workspace' | 'sender';
    help_text: string;
    opt_out_confirmation: string;
    opt_in_confirmation: string;
    reply_webhook_url?: string;
  };
  /** Auto-replies already sent to this number in the loop-guard window. */
  recentAutoReplies: number;
}

/** More auto-replies than this to one number within the guard window looks like two bots talking. */
export const AUTO_REPLY_LOOP_LIMIT = 3;

export interface Decision {
  /** The intent as handled (YES from an opted-out number becomes opt_in). */
  intent: ReplyClassification['intent'];
  actions: RouterAction[];
}

export function decide(input: DecisionInput): Decision {
  const { classification: c, settings } = input;
  const mayAutoReply = input.recentAutoReplies < AUTO_REPLY_LOOP_LIMIT;
  const reply = (
    template: string,
    purpose: Extract<RouterAction, { kind: 'auto_reply' }>['purpose'],
  ): RouterAction[] => (mayAutoReply ? [{ kind: 'auto_reply', template, purpose }] : []);

  if (c.intent === 'opt_out') {
    // The confirmation is the one message allowed after STOP; a repeated STOP gets none.
    return {
      intent: 'opt_out',
      actions: [
        { kind: 'opt_out', scope: settings.opt_out_scope },
        ...(input.optedOut
          ? []
          : [
              {
                kind: 'auto_reply',
                template: settings.opt_out_confirmation,
                purpose: 'opt_out_confirmation',
              } as RouterAction,
            ]),
      ],
    };
  }
  const isYes = c.intent === 'confirm' && c.keyword === 'YES';
  if (c.intent === 'opt_in' || (isYes && input.optedOut)) {
    if (!input.optedOut) {
      // START from a subscribed number: nothing to change; confirm their subscription once.
      return { intent: 'opt_in', actions: reply(settings.opt_in_confirmation, 'opt_in_confirmation') };
    }
    return {
      intent: 'opt_in',
      actions: [{ kind: 'opt_in' }, ...reply(settings.opt_in_confirmation, 'opt_in_confirmation')],
    };
  }
  if (c.intent === 'help') return { intent: 'help', actions: reply(settings.help_text, 'help') };

  const actions: RouterAction[] = [];
  const handler = input.matched?.campaignId ? handlerFor(input.handlers, c.intent, input.text) : undefined;
  if (handler) {
    if (handler.record) actions.push({ kind: 'record', value: handler.record });
    if (handler.auto_reply && !input.optedOut) actions.push(...reply(handler.auto_reply, 'handler'));
    if (handler.webhook) actions.push({ kind: 'webhook', url: handler.webhook });
    if (handler.inbox) actions.push({ kind: 'inbox' });
    return { intent: c.intent, actions };
  }
  // No handler: questions about an order go to the logistics system's webhook with the order
  // attached, and to the inbox so a person sees them; other free text goes to the inbox.
  if (c.intent === 'order_question' || (input.matched?.hasOrderContext && c.intent === 'other')) {
    if (settings.reply_webhook_url) actions.push({ kind: 'webhook', url: settings.reply_webhook_url });
    actions.push({ kind: 'inbox' });
    return { intent: c.intent, actions };
  }
  if (c.intent === 'confirm' || c.intent === 'decline') {
    // A plain YES/NO to a campaign without handlers is still worth recording.
    if (input.matched?.campaignId)
      actions.push({ kind: 'record', value: c.intent === 'confirm' ? 'confirmation' : 'decline' });
    else actions.push({ kind: 'inbox' });
    return { intent: c.intent, actions };
  }
  actions.push({ kind: 'inbox' });
  return { intent: c.intent, actions };
}
