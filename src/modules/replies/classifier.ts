// Owns the meaning of an inbound reply: opt-out, opt-in, help, confirm, decline, order question or
// anything else, plus the language it was written in. Pure and synchronous, so the router can call it
// on every inbound message and `POST /v1/replies/classify` shows users exactly what the router decides.
//
// Compliance first: opt-out is tested before anything else and wins over every other reading, because a
// missed revocation is a legal failure while a false one costs one confirmation message. Precision still
// matters (carriers and customers hate "you are unsubscribed" after "stop by the store"), so a keyword
// counts only when it stands alone in its sentence (politeness words aside), and plain-language
// revocations are recognised by phrases that cannot mean anything else.
//
// YES is deliberately not an opt-in here: YES/Y/Yeah/Sí/Oui/C come back as `confirm` with keyword 'YES',
// and the router, which knows whether the number is opted out, turns it into an opt-in or a confirmation.
// Requests to reschedule are `decline` (keyword 'RESCHEDULE'): the booked slot will not be kept.

import { z } from 'zod/v4';
import { loadDataFile } from '../../infra/data-file';

export type ReplyIntent = 'opt_out' | 'opt_in' | 'help' | 'confirm' | 'decline' | 'order_question' | 'other';
export type ReplyLanguage = 'en' | 'es' | 'fr';
export type KeywordIntent = 'opt_out' | 'opt_in' | 'help' | 'confirm' | 'decline';
export type KeywordLists = Partial<Record<KeywordIntent, string[]>>;

export interface ClassifyOptions {
  /** Forces the language instead of detecting it (for example the contact's known language). */
  language?: ReplyLanguage;
  /**
   * Workspace keywords, either flat (every language) or per language. Custom opt-out keywords of every
   * language always apply: a revocation is honoured whatever language we guessed.
   */
  keywords?: KeywordLists | Partial<Record<ReplyLanguage, KeywordLists>>;
}

export interface ReplyClassification {
  intent: ReplyIntent;
  /** The keyword that decided it, upper case without accents ('STOP', 'ARRET', 'YES'); absent for phrases. */
  keyword?: string;
  language: ReplyLanguage;
  /** 1 for a keyword alone, lower for phrases, typos and topic cues. */
  confidence: number;
}

const LANGUAGES: readonly ReplyLanguage[] = ['en', 'es', 'fr'];

/** NFKC folds fullwidth and compatibility letters (ＳＴＯＰ → STOP); NFD + mark removal drops accents. */
export function normalizeReply(text: string): string {
  return text
    .normalize('NFKC')
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[’‘`´ʼ]/g, "'")
    .replace(/\s+/g, ' ')
    .trim();
}

/** Sentences / clauses: a keyword must stand alone in one of them to count. */
function clausesOf(normalized: string): string[][] {
  return normalized
    .split(/[.!?;,:\n\r…()"“”*]+|\s[-–—]+\s/)
    .map((c) =>
      (
        c
          .replace(/'/g, '')
          .replace(/[-_/]/g, ' ')
          .match(/[\p{L}\p{N}#]+/gu) ?? []
      ).filter((t) => t !== '#'),
    )
    .filter((tokens) => tokens.length > 0);
}

// ── Keyword lists ────────────────────────────────────────────────────────────────────────────────
// The words are data (data/reply-keywords.json, per language), read and checked once when this module
// loads; the rules that use them stay here. Every word is written as the matcher compares it (lower
// case, no accents or punctuation), since a word written otherwise would silently never match.

const word = z
  .string()
  .refine((w) => w !== '' && tokensOfKeyword(w) === w, 'must be lower case without accents or punctuation');
const singleWord = word.refine((w) => !w.includes(' '), 'must be one word');
const list = <T extends z.ZodType<string>>(item: T) =>
  z.array(item).refine((ws) => new Set(ws).size === ws.length, 'lists a word twice');

const languageKeywordsSchema = z
  .strictObject({
    // Carriers' standard opt-out set (CTIA: "stop all" and "opt out" are how people type STOPALL and
    // OPTOUT) and its Spanish (US carriers honour these) and French (Canadian and EU carriers) peers.
    opt_out: list(word),
    opt_in: list(word),
    help: list(word),
    // The yes-family, reported as keyword YES: the router may read it as an opt-in for an opted-out
    // number. `confirm` words ("ok", "confirmed") never are.
    yes: list(word),
    confirm: list(word),
    decline: list(word),
    // Misspellings of a short opt-out keyword accepted as such (STOP: swapped neighbours, a doubled
    // letter); a one-edit typo of any longer `opt_out_typo_targets` keyword counts too.
    opt_out_typos: list(singleWord),
    opt_out_typo_targets: list(singleWord),
    // Words people wrap around a keyword without changing it ("stop please", "i said STOP", "Arrêt svp").
    fillers: list(singleWord),
    // Common short words of the language, for detecting which one a reply is written in.
    language_words: list(singleWord),
  })
  .refine((k) => k.opt_out_typo_targets.every((w) => k.opt_out.includes(w)), {
    message: 'a typo target must be one of the opt_out keywords',
    path: ['opt_out_typo_targets'],
  });

const KEYWORDS = loadDataFile(
  __dirname,
  'reply-keywords.json',
  z.strictObject({ en: languageKeywordsSchema, es: languageKeywordsSchema, fr: languageKeywordsSchema }),
);

/** One list across every language: a keyword counts whatever language the reply was detected as. */
function inEveryLanguage(name: keyof (typeof KEYWORDS)[ReplyLanguage]): string[] {
  return LANGUAGES.flatMap((lang) => KEYWORDS[lang][name]);
}

const FILLERS = new Set(inEveryLanguage('fillers'));
const YES_WORDS = new Set(inEveryLanguage('yes'));

interface KeywordSet {
  intent: KeywordIntent;
  words: string[];
  canonical?: (word: string) => string;
}

const BUILT_IN: KeywordSet[] = [
  { intent: 'opt_out', words: inEveryLanguage('opt_out') },
  { intent: 'opt_in', words: inEveryLanguage('opt_in') },
  { intent: 'help', words: inEveryLanguage('help') },
  {
    intent: 'confirm',
    words: [...inEveryLanguage('yes'), ...inEveryLanguage('confirm')],
    canonical: (w) => (YES_WORDS.has(w) ? 'YES' : w.toUpperCase()),
  },
  { intent: 'decline', words: inEveryLanguage('decline'), canonical: () => 'NO' },
];

/** Opt-out keywords with no other meaning, long enough that one slip of the finger is still unambiguous. */
const TYPO_TARGETS = inEveryLanguage('opt_out_typo_targets');
const OPT_OUT_TYPOS = new Set(inEveryLanguage('opt_out_typos'));

const LANGUAGE_WORDS: Record<ReplyLanguage, Set<string>> = {
  en: new Set(KEYWORDS.en.language_words),
  es: new Set(KEYWORDS.es.language_words),
  fr: new Set(KEYWORDS.fr.language_words),
};

// ── Rules ────────────────────────────────────────────────────────────────────────────────────────

// Plain-language revocations, matched per clause on normalized text (no accents, no apostrophes).
const MSG = String.raw`(?:texts?|txts?|messages?|msgs?|sms|notifications?|promos?|promotions?|ads|spam|alerts?)`;
const OPT_OUT_PHRASES: RegExp[] = [
  new RegExp(
    String.raw`\b(?:stop|quit|cease|end)\s+(?:texting|txting|messaging|msging|contacting|spamming|bothering|harassing)\b`,
  ),
  new RegExp(String.raw`\b(?:stop|quit)\s+(?:sending|send)\s+(?:me|us|this|these|any|${MSG})\b`),
  new RegExp(String.raw`\bstop\s+(?:all\s+)?(?:these|the|your|this|those|all)?\s*${MSG}\b`),
  // An object is required: "don't text while driving" is advice, "don't text me" is a revocation.
  new RegExp(
    String.raw`\b(?:dont|do not|never)\s+(?:ever\s+)?(?:text|txt|message|msg|contact|sms)(?:\s+(?:me|us|this|my|again|anymore|any\s*more|here)\b|$)`,
  ),
  new RegExp(String.raw`\b(?:dont|do not|never)\s+send\s+(?:me|us)\s+(?:any\s*more|more|any|another|${MSG})`),
  new RegExp(String.raw`\bopt\s+(?:me\s+|us\s+)?out\b`),
  /\bunsub(?:scribe)?\b/,
  /\b(?:remove|take|delete|erase|lose|drop)\s+(?:me|my (?:number|phone|cell|info|contact)|this number|my # )\b/,
  /\b(?:remove|take|delete|erase|lose|drop)\s+(?:me|my number|this number)$/,
  new RegExp(String.raw`\bno\s+more\s+${MSG}\b`),
  new RegExp(String.raw`\bdone\s+with\s+(?:(?:all\s+)?(?:these|your|the|this|those)\s+)?${MSG}`),
  new RegExp(
    String.raw`\b(?:dont|do not|no longer|never)\s+(?:want|wish|need)\s+(?:(?:to|receive|get|any|more|these|your|the|this|those|such|anymore)\s+)*${MSG}\b`,
  ),
  /\bwrong\s+(?:number|person|#)\b/,
  /\bleave me alone\b/,
  /\bwant\s+out\b/,
  /^(?:stop|quit)\s+it(?:\s+(?:please|pls|plz|now|already))*$/,
  /\bstop\s+means\s+stop\b/,
  // Someone saying they already opted out is revoking again; the first one may have been missed.
  /\b(?:opted|i\s+opt)\s+out\b|\bunsubscribed\b/,
  /\b(?:texted|replied|sent|said|typed|wrote|asked)\s+(?:you\s+)?(?:stop|unsubscribe|to\s+(?:stop|unsubscribe|be\s+removed))\b/,
  // Spanish
  /\bno\s+me\s+(?:envien|envie|manden|mande|escriban|escriba|contacten|contacte|textees?)\b/,
  /\b(?:dejen|deje|dejar|paren|pare)\s+de\s+(?:enviar|mandar|escribir|contactar)/,
  /\b(?:dar\w*|doy|denme|den)\s+de\s+baja\b/,
  new RegExp(
    String.raw`\bno\s+(?:quiero|deseo)\s+(?:recibir\s+)?(?:mas\s+)?(?:sus\s+|estos\s+|los\s+)?(?:mensajes|sms|textos|promociones)\b`,
  ),
  /\b(?:borr|elimin|quit|saq|sac)\w*\s+(?:me\s+)?(?:mi numero|de (?:la|su|esta|sus) lista)/,
  /\bno\s+mas\s+(?:mensajes|sms|textos|promociones)\b/,
  /\bnumero\s+equivocado\b/,
  /\bdesuscri\w*/,
  /\bcancelar\s+(?:la\s+|mi\s+)?suscripcion\b/,
  // French
  /\bne\s+(?:m\s?|me\s+)?(?:envoy|ecri|contact|textot)\w*\s+plus\b/,
  /\bne\s+plus\s+(?:m\s?|me\s+)?(?:envoy|ecri|contact)\w*/,
  /\barret\w*\s+de\s+(?:m\s?|me\s+|nous\s+)?(?:envoy|ecri|contact|spam|harcel)/,
  /\b(?:desabonn|desinscri)\w*/,
  /\b(?:supprim|retir|enlev|effac)\w*\s+(?:mon numero|moi|mes coordonnees)\b/,
  /^(?:plus|pas)\s+de\s+(?:messages|sms|textos|pubs?|publicites)\b/,
  /\bne\s+(?:veux|souhaite|desire)\s+plus\s+(?:recevoir|de)\b/,
  /\bne\s+plus\s+recevoir\b/,
  /\b(?:mauvais|faux)\s+numero\b/,
];

const OPT_IN_PHRASES: RegExp[] = [
  /\bstart\s+(?:sending|texting|messaging)\b/,
  /\b(?:want|like|wish)\s+to\s+(?:re)?subscribe\b/,
  /\bsubscribe\s+me\b/,
  /\bsuscrib\w*/,
  /\b(?:re)?abonn\w*/,
];

// Topic cues for a delivery / order conversation (English, Spanish, French).
const ORDER_CUES: RegExp[] = [
  /\b(?:order|orders|package|packages|parcel|parcels|delivery|deliveries|deliver|delivered|shipment|shipped|tracking|track|courier|driver|doorbell|porch|garage|gate|neighbou?r|box|eta)\b/,
  /\b(?:arrive|arrives|arrived|arriving|arrival)\b/,
  /\bwhere\s+(?:is|s|are)\s+my\b/,
  /\bwhen\s+will\s+it\b|\bwhat\s+(?:day|time)\s+(?:does|will)\s+it\b|\b(?:is\s+it|it\s+is)\s+coming\b|\bcome\s+today\b/,
  /\bleave\s+(?:it|at|the|them|in|on)\b|\bring\s+the\b|\b(?:back|front|side)\s+door\b|\bdoor\b/,
  /\b(?:when|once)\s+(?:you|youre|ur|u)\s+(?:are\s+)?(?:outside|here|arrive)/,
  // Spanish
  /\b(?:pedido|pedidos|orden|paquete|paquetes|envio|envios|entrega|entregar|entregaron|repartidor|llega|llegara|llego|timbre|vecino|vecina|rastreo|guia)\b/,
  /\bdej[ae]lo\b/,
  // French
  /\b(?:colis|commande|commandes|livraison|livraisons|livreur|livrer|livre|suivi|sonn\w*|laissez)\b/,
];

const CONFIRM_PHRASES: RegExp[] = [
  /\b(?:ill|i will|we will|well|i ll)\s+be\s+there\b/,
  /\bsee\s+(?:you|u|ya)\b/,
  /\b(?:sounds\s+good|works\s+for\s+me|that works|confirm\w*)\b/,
  /\b(?:ahi|alli|aqui)\s+estare\b|\bclaro\b|\bde\s+acuerdo\b|\bpor\s+supuesto\b/,
  /\bje\s+serai\s+la\b|\bje\s+confirme\b|\bdaccord\b|\bd\s+accord\b/,
];

const DECLINE_PHRASES: [RegExp, string?][] = [
  [/\breschedul\w*|\bre\s+schedule\b/, 'RESCHEDULE'],
  [/\b(?:reporter|decaler|reprogramar)\b/, 'RESCHEDULE'],
  [/\b(?:cambiar|mover)\s+(?:la|mi)\s+cita\b/, 'RESCHEDULE'],
  [
    /\b(?:move|change|push)\s+(?:my|the|our)\s+(?:appointment|appt|booking|reservation|visit)\b/,
    'RESCHEDULE',
  ],
  [
    /\b(?:cant|cannot|can not|wont|will not|not going to|not gonna|unable to)\s+(?:make\s+it|be\s+there|come|attend|go)\b/,
  ],
  [/\b(?:wont|will not|not)\s+be\s+able\s+to\b/],
  [/\bcancel\w*\b/],
  [/\bno\s+(?:puedo|podre|podemos|voy a poder|vamos a poder)\s+(?:ir|asistir|llegar|venir)\b/],
  [/\bne\s+(?:pourrai|pourrais|peux|pourra|pourrons)\s+pas\s+(?:venir|etre|y aller|assister)\b/],
  [/\bannul\w*/],
];

// Language cues: accents first (they are strong), then common short words. Ties fall back to English.
function detectLanguage(normalized: string, raw: string, tokens: string[]): ReplyLanguage {
  const score: Record<ReplyLanguage, number> = { en: 0, es: 0, fr: 0 };
  if (/[ñ¿¡]/i.test(raw)) score.es += 3;
  if (/[áíóú]/i.test(raw)) score.es += 1.5;
  if (/[èêàçôûùœîïë]/i.test(raw)) score.fr += 2;
  if (/é/i.test(raw)) score.fr += 1;
  if (
    /\b[mnlcdj]'\p{L}/u.test(normalized) &&
    !/\b(?:i'm|don't|can't|won't|i'll|it's|i'd|n't)\b/.test(normalized)
  )
    score.fr += 1.5;
  for (const token of tokens)
    for (const lang of LANGUAGES) if (LANGUAGE_WORDS[lang].has(token)) score[lang] += 1;
  // Words shared by the two Romance languages say "not English" more than which one.
  let best: ReplyLanguage = 'en';
  for (const lang of ['es', 'fr'] as const) if (score[lang] > score[best]) best = lang;
  return best;
}

function isPerLanguage(k: ClassifyOptions['keywords']): k is Partial<Record<ReplyLanguage, KeywordLists>> {
  return !!k && Object.keys(k).some((key) => (LANGUAGES as readonly string[]).includes(key));
}

function tokensOfKeyword(word: string): string {
  return clausesOf(normalizeReply(word))
    .map((c) => c.join(' '))
    .join(' ');
}

function customKeywordSets(opts: ClassifyOptions | undefined, language: ReplyLanguage): KeywordSet[] {
  const k = opts?.keywords;
  if (!k) return [];
  const lists: KeywordLists[] = [];
  const optOutOnly: KeywordLists[] = [];
  if (isPerLanguage(k)) {
    for (const lang of LANGUAGES) {
      const l = k[lang];
      if (!l) continue;
      if (lang === language) lists.push(l);
      else optOutOnly.push({ opt_out: l.opt_out });
    }
  } else lists.push(k);
  const sets: KeywordSet[] = [];
  for (const l of [...lists, ...optOutOnly])
    for (const [intent, words] of Object.entries(l) as [KeywordIntent, string[] | undefined][])
      if (words?.length)
        sets.push({
          intent,
          words: words.map(tokensOfKeyword).filter(Boolean),
          canonical: (w) => w.toUpperCase(),
        });
  return sets;
}

/**
 * The keyword a clause consists of, politeness aside ("stop please" → stop, "STOP STOP" → stop),
 * or undefined. Multi-word keywords ("opt out") match as a unit.
 */
const lookups = new WeakMap<KeywordSet, { words: Set<string>; maxLen: number }>();

function keywordAlone(clause: string[], set: KeywordSet): string | undefined {
  let lookup = lookups.get(set);
  if (!lookup) {
    lookup = { words: new Set(set.words), maxLen: Math.max(1, ...set.words.map((w) => w.split(' ').length)) };
    lookups.set(set, lookup);
  }
  const { words, maxLen } = lookup;
  let found: string | undefined;
  let i = 0;
  while (i < clause.length) {
    let matched = false;
    for (let n = Math.min(maxLen, clause.length - i); n >= 1; n--) {
      const candidate = clause.slice(i, i + n).join(' ');
      if (words.has(candidate)) {
        found ??= candidate;
        i += n;
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (!FILLERS.has(clause[i])) return undefined;
    i++;
  }
  return found;
}

function damerauAtMostOne(a: string, b: string): boolean {
  if (a === b) return true;
  if (Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (a.length === b.length) {
    if (a.slice(i + 1) === b.slice(i + 1)) return true; // substitution
    return a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2); // swap
  }
  return a.length > b.length ? a.slice(i + 1) === b.slice(i) : a.slice(i) === b.slice(i + 1);
}

export function classifyReply(text: string, opts?: ClassifyOptions): ReplyClassification {
  const normalized = normalizeReply(text ?? '');
  const clauses = clausesOf(normalized);
  const tokens = clauses.flat();
  const language = opts?.language ?? detectLanguage(normalized, (text ?? '').normalize('NFKC'), tokens);
  const flatClauses = clauses.map((c) => c.join(' '));
  const result = (intent: ReplyIntent, confidence: number, keyword?: string): ReplyClassification =>
    keyword === undefined ? { intent, language, confidence } : { intent, keyword, language, confidence };

  // Custom keywords first within each intent so a workspace can add words, never remove compliance ones.
  const sets = [...customKeywordSets(opts, language), ...BUILT_IN];
  const keywordMatch = (intent: KeywordIntent): ReplyClassification | undefined => {
    for (const set of sets) {
      if (set.intent !== intent) continue;
      for (const clause of clauses) {
        const word = keywordAlone(clause, set);
        if (word === undefined) continue;
        const keyword = set.canonical ? set.canonical(word) : word.replace(/\s+/g, '').toUpperCase();
        return result(intent, clauses.length === 1 ? 1 : 0.95, keyword);
      }
    }
    return undefined;
  };

  // 1. Opt-out: a keyword alone in a sentence, a plain-language revocation, or an unmistakable typo.
  const optOut = keywordMatch('opt_out');
  if (optOut) return optOut;
  if (flatClauses.some((c) => OPT_OUT_PHRASES.some((re) => re.test(c)))) return result('opt_out', 0.9);
  if (tokens.length === 1) {
    const t = tokens[0];
    const otherKeyword = BUILT_IN.some((s) => s.intent !== 'opt_out' && s.words.includes(t));
    if (!otherKeyword && (OPT_OUT_TYPOS.has(t) || TYPO_TARGETS.some((k) => damerauAtMostOne(t, k))))
      return result('opt_out', 0.8);
  }

  // 2. Opt-in and help keywords: they drive compliance replies, so they beat topic cues.
  const optIn = keywordMatch('opt_in');
  if (optIn) return optIn;
  if (flatClauses.some((c) => OPT_IN_PHRASES.some((re) => re.test(c)))) return result('opt_in', 0.85);
  const help = keywordMatch('help');
  if (help) return help;

  // 3. Order questions before yes/no phrases: "no, leave it at the door" is about the delivery.
  const orderHits = flatClauses.filter((c) => ORDER_CUES.some((re) => re.test(c))).length;
  if (orderHits > 0) return result('order_question', Math.min(0.95, 0.75 + 0.1 * orderHits));

  // 4. Yes / no as keywords, then as phrases. An emoji thumbs-up is the commonest wordless yes.
  const confirm = keywordMatch('confirm');
  if (confirm) return confirm;
  const decline = keywordMatch('decline');
  if (decline) return decline;
  for (const c of flatClauses)
    for (const [re, keyword] of DECLINE_PHRASES) if (re.test(c)) return result('decline', 0.85, keyword);
  if (flatClauses.some((c) => CONFIRM_PHRASES.some((re) => re.test(c)))) return result('confirm', 0.85);
  if (tokens.length === 0 && /[👍✅👌🙆]/u.test(text)) return result('confirm', 0.8);
  if (tokens.length === 0 && /[👎❌🙅]/u.test(text)) return result('decline', 0.8);

  return result('other', 0.5);
}
