import { describe, expect, it } from 'vitest';
import { classifyReply, normalizeReply, type ReplyIntent } from './classifier';
import { HELD_OUT_REPLIES, LABELLED_REPLIES, type LabelledReply } from './classifier.dataset';

const INTENTS: ReplyIntent[] = ['opt_out', 'opt_in', 'help', 'confirm', 'decline', 'order_question', 'other'];

function evaluate(set: LabelledReply[]) {
  const results = set.map((r) => ({ ...r, got: classifyReply(r.text) }));
  const stats = INTENTS.map((intent) => {
    const tp = results.filter((r) => r.intent === intent && r.got.intent === intent).length;
    const predicted = results.filter((r) => r.got.intent === intent).length;
    const actual = results.filter((r) => r.intent === intent).length;
    return {
      intent,
      support: actual,
      precision: predicted ? tp / predicted : 1,
      recall: actual ? tp / actual : 1,
    };
  });
  const accuracy = results.filter((r) => r.got.intent === r.intent).length / results.length;
  const languageAccuracy = results.filter((r) => r.got.language === r.lang).length / results.length;
  return { results, stats, accuracy, languageAccuracy };
}

function print(title: string, { results, stats, accuracy, languageAccuracy }: ReturnType<typeof evaluate>) {
  console.log(`${title}: ${results.length} labelled replies`);
  console.table(
    Object.fromEntries(
      stats.map((s) => [
        s.intent,
        { support: s.support, precision: s.precision.toFixed(3), recall: s.recall.toFixed(3) },
      ]),
    ),
  );
  console.log(
    `accuracy ${accuracy.toFixed(3)}, language accuracy ${languageAccuracy.toFixed(3)} (one-word replies like "STOP" are read as English)`,
  );
  const misses = results.filter((r) => r.got.intent !== r.intent);
  if (misses.length)
    console.log(
      'misclassified:\n' +
        misses
          .map((m) => `  [${m.lang}] ${JSON.stringify(m.text)}: want ${m.intent}, got ${m.got.intent}`)
          .join('\n'),
    );
}

describe('classifyReply on the labelled set', () => {
  const main = evaluate(LABELLED_REPLIES);
  const { results, stats, accuracy } = main;

  it('prints per-intent precision and recall', () => {
    print('classifier, main set', main);
    expect(results.length).toBeGreaterThanOrEqual(250);
  });

  it('never calls something an opt-out that is not (precision 1.0) and misses almost none (recall ≥ 0.98)', () => {
    const optOut = stats.find((s) => s.intent === 'opt_out')!;
    const falseOptOuts = results.filter((r) => r.got.intent === 'opt_out' && r.intent !== 'opt_out');
    expect(falseOptOuts.map((r) => r.text)).toEqual([]);
    expect(optOut.precision).toBe(1);
    expect(optOut.recall).toBeGreaterThanOrEqual(0.98);
  });

  it('is right overall at least 90% of the time', () => {
    expect(accuracy).toBeGreaterThanOrEqual(0.9);
  });

  it('keeps opt-out precision at 1.0 on the held-out set too', () => {
    const heldOut = evaluate(HELD_OUT_REPLIES);
    print('classifier, held-out set', heldOut);
    expect(heldOut.stats.find((s) => s.intent === 'opt_out')!.precision).toBe(1);
    expect(heldOut.accuracy).toBeGreaterThanOrEqual(0.85);
  });

  it('covers all three languages and every intent', () => {
    for (const lang of ['en', 'es', 'fr'] as const)
      expect(LABELLED_REPLIES.filter((r) => r.lang === lang).length).toBeGreaterThanOrEqual(40);
    for (const s of stats) expect(s.support).toBeGreaterThan(0);
  });
});

describe('classifyReply', () => {
  it('returns the canonical opt-out keyword, accents stripped', () => {
    expect(classifyReply('ARRÊT')).toMatchObject({ intent: 'opt_out', keyword: 'ARRET', confidence: 1 });
    expect(classifyReply('Stop.')).toMatchObject({ intent: 'opt_out', keyword: 'STOP' });
    expect(classifyReply('opt-out')).toMatchObject({ intent: 'opt_out', keyword: 'OPTOUT' });
    expect(classifyReply('Stop all')).toMatchObject({ intent: 'opt_out', keyword: 'STOPALL' });
  });

  it('gives plain-language revocations no keyword and a lower confidence', () => {
    const r = classifyReply('please delete my number from your system');
    expect(r.intent).toBe('opt_out');
    expect(r.keyword).toBeUndefined();
    expect(r.confidence).toBeLessThan(1);
  });

  it('maps the yes-family to confirm with keyword YES, for the router to turn into an opt-in when opted out', () => {
    for (const t of ['YES', 'y', 'Yeah', 'Sí', 'Oui', 'C'])
      expect(classifyReply(t)).toMatchObject({ intent: 'confirm', keyword: 'YES' });
    // Not yes-words: an opted-out number saying "ok" or "I'll be there" must not be re-subscribed.
    expect(classifyReply('ok').keyword).toBe('OK');
    expect(classifyReply("I'll be there").keyword).toBeUndefined();
  });

  it('marks reschedule requests as decline with keyword RESCHEDULE', () => {
    expect(classifyReply('Can we reschedule?')).toMatchObject({ intent: 'decline', keyword: 'RESCHEDULE' });
    expect(classifyReply('No')).toMatchObject({ intent: 'decline', keyword: 'NO' });
  });

  it('detects the language by cheap cues and lets the caller override it', () => {
    expect(classifyReply('no me envíen más mensajes').language).toBe('es');
    expect(classifyReply("ne m'envoyez plus de messages").language).toBe('fr');
    expect(classifyReply('where is my package').language).toBe('en');
    expect(classifyReply('STOP', { language: 'fr' }).language).toBe('fr');
  });

  it('honours workspace keywords, flat or per language', () => {
    expect(classifyReply('PAUSE')).toMatchObject({ intent: 'other' });
    expect(classifyReply('Pause!', { keywords: { opt_out: ['pause'] } })).toMatchObject({
      intent: 'opt_out',
      keyword: 'PAUSE',
    });
    const perLanguage = { es: { help: ['socorro'], opt_out: ['basta'] }, en: { confirm: ['deal'] } };
    expect(classifyReply('socorro por favor', { keywords: perLanguage, language: 'es' }).intent).toBe('help');
    expect(classifyReply('deal', { keywords: perLanguage, language: 'en' }).intent).toBe('confirm');
    // Another language's custom opt-out still counts: a revocation is honoured whatever we guessed.
    expect(classifyReply('basta', { keywords: perLanguage, language: 'en' }).intent).toBe('opt_out');
    // Custom words add to compliance keywords, never replace them.
    expect(classifyReply('STOP', { keywords: { opt_out: ['pause'] } }).intent).toBe('opt_out');
  });

  it('treats empty and emoji-only replies sensibly', () => {
    expect(classifyReply('').intent).toBe('other');
    expect(classifyReply('   ').intent).toBe('other');
    expect(classifyReply('👍').intent).toBe('confirm');
    expect(classifyReply('🛑').intent).toBe('other');
  });
});

describe('normalizeReply', () => {
  it('folds fullwidth letters, accents, case and whitespace', () => {
    expect(normalizeReply('  ＳＴＯＰ\t ARRÊT  ')).toBe('stop arret');
    expect(normalizeReply('Don’t')).toBe("don't");
  });
});
