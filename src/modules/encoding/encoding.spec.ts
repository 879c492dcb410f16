import { describe, expect, it } from 'vitest';
import { analyzeText, GSM_BASIC_CHARACTERS, gsmSeptets, segmentsOf } from './index';

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const septets = (s: string) => [...s].reduce((n, ch) => n + gsmSeptets(ch), 0);

/** Every analysis must reassemble to its text and keep each part within the per-part limit. */
function wellFormed(body: string, smartEncoding = false) {
  const a = analyzeText(body, { smartEncoding });
  expect(a.parts.join('')).toBe(a.text);
  expect(a.segments).toBe(a.parts.length);
  expect(segmentsOf(body, { smartEncoding })).toBe(a.segments);
  if (a.segments > 1) {
    for (const p of a.parts) {
      if (a.encoding === 'GSM-7') expect(septets(p)).toBeLessThanOrEqual(153);
      else expect(p.length).toBeLessThanOrEqual(67);
      expect(p).not.toMatch(LONE_SURROGATE);
    }
  }
  return a;
}

describe('the GSM 03.38 table', () => {
  it('has the 127 basic characters besides the escape', () => {
    expect([...GSM_BASIC_CHARACTERS]).toHaveLength(127);
  });

  it.each([...'éèùìòÇØøÅåÄÖÑÜßäöñüàÉÆæ¿¡§¤£¥@ΔΦΓΛΩΠΨΣΘΞ_$'])('carries %s as one septet', (ch) => {
    expect(gsmSeptets(ch)).toBe(1);
    expect(analyzeText(`x${ch}`).encoding).toBe('GSM-7');
  });

  it.each([...'^{}\\[~]|€\f'])('carries %j as two septets (escape + code)', (ch) => {
    expect(gsmSeptets(ch)).toBe(2);
    expect(analyzeText(ch)).toMatchObject({ encoding: 'GSM-7', units: 2, characters: 1 });
  });

  // Lowercase ç is not in the table (only Ç is), and neither are the acute vowels of Spanish and
  // Portuguese or the circumflex of French.
  it.each([...'áíóúêçâîôûëïÁÍÓÚÀÈÊ`ãõ'])('does not carry %s', (ch) => {
    expect(gsmSeptets(ch)).toBe(0);
    expect(analyzeText(`x${ch}`)).toMatchObject({ encoding: 'UCS-2', nonGsmCharacters: [ch] });
  });
});

describe('GSM-7 segments', () => {
  it.each([
    [1, 1],
    [160, 1],
    [161, 2],
    [306, 2],
    [307, 3],
    [459, 3],
    [460, 4],
  ])('%i plain characters → %i segment(s)', (n, segments) => {
    const a = wellFormed('a'.repeat(n));
    expect(a).toMatchObject({ encoding: 'GSM-7', segments, characters: n, units: n });
  });

  it('fills parts of 153 septets', () => {
    expect(analyzeText('x'.repeat(307)).parts.map((p) => p.length)).toEqual([153, 153, 1]);
  });

  it('counts extension characters twice: 80 € is one segment, 80 € and a letter are two', () => {
    expect(wellFormed('€'.repeat(80))).toMatchObject({ segments: 1, units: 160, characters: 80 });
    expect(wellFormed(`${'€'.repeat(80)}a`)).toMatchObject({ segments: 2, units: 161 });
    expect(wellFormed(`${'a'.repeat(159)}[`)).toMatchObject({ segments: 2, units: 161 });
    expect(wellFormed(`${'a'.repeat(158)}\f`)).toMatchObject({ segments: 1, units: 160 });
  });

  it('never splits an escape pair: an extension character at the boundary moves to the next part', () => {
    const a = wellFormed(`${'a'.repeat(152)}€${'b'.repeat(10)}`);
    expect(a.parts[0]).toBe('a'.repeat(152));
    expect(a.parts[1]).toBe(`€${'b'.repeat(10)}`);
    // One septet short of the boundary the pair fits exactly.
    const b = wellFormed(`${'a'.repeat(151)}€${'b'.repeat(10)}`);
    expect(b.parts[0]).toBe(`${'a'.repeat(151)}€`);
  });

  it('sends real European text as GSM-7', () => {
    for (const text of [
      'Grüße aus München! Ihre Bestellung ist unterwegs.',
      'Smørrebrød på Ærø, Ålborg og Øresund.',
      'Mañana llega su pedido a Peñíscola'.replace('í', 'i'),
      'Voilà: votre colis arrive à 14h. Merci, Hélène!',
      'Ça y est. Dîner? Non.'.replace('î', 'i'),
      'Ünal, Öztürk & Äijälä: 20 € / £15 / ¥300 / $12',
    ]) {
      expect(analyzeText(text), text).toMatchObject({ encoding: 'GSM-7', nonGsmCharacters: [] });
    }
  });

  it('has no parts for an empty body', () => {
    expect(analyzeText('')).toMatchObject({ encoding: 'GSM-7', segments: 0, parts: [], characters: 0 });
    expect(segmentsOf('')).toBe(0);
  });
});

describe('UCS-2 segments', () => {
  it.each([
    [70, 1],
    [71, 2],
    [134, 2],
    [135, 3],
    [201, 3],
    [202, 4],
  ])('%i Cyrillic letters → %i segment(s)', (n, segments) => {
    const a = wellFormed('ж'.repeat(n));
    expect(a).toMatchObject({ encoding: 'UCS-2', segments, characters: n, units: n });
  });

  it('fills parts of 67 code units', () => {
    expect(analyzeText('ж'.repeat(135)).parts.map((p) => p.length)).toEqual([67, 67, 1]);
  });

  it('counts characters outside the BMP as two code units', () => {
    expect(wellFormed('😀'.repeat(35))).toMatchObject({ segments: 1, units: 70, characters: 35 });
    expect(wellFormed(`${'😀'.repeat(35)}a`)).toMatchObject({ segments: 2, units: 71, characters: 36 });
  });

  it('never splits a surrogate pair: an emoji at the boundary moves to the next part', () => {
    const a = wellFormed(`${'ж'.repeat(66)}😀${'ж'.repeat(10)}`);
    expect(a.parts[0]).toBe('ж'.repeat(66));
    expect(a.parts[1].startsWith('😀')).toBe(true);
  });

  it('keeps a flag whole at the boundary', () => {
    const a = wellFormed(`${'ж'.repeat(65)}🇫🇷${'ж'.repeat(10)}`);
    expect(a.parts[0]).toBe('ж'.repeat(65));
    expect(a.parts[1].startsWith('🇫🇷')).toBe(true);
  });

  it('keeps ZWJ families, skin tones and keycaps whole', () => {
    for (const g of ['👨‍👩‍👧‍👦', '👍🏽', '🏳️‍🌈', '1️⃣', '🧑🏿‍🚀', '🏴󠁧󠁢󠁳󠁣󠁴󠁿']) {
      for (let pad = 55; pad <= 67; pad++) {
        const a = wellFormed(`${'ж'.repeat(pad)}${g}${'ж'.repeat(20)}`);
        const at = a.parts.findIndex((p) => p.includes(g));
        expect(at, `${g} after ${pad}`).toBeGreaterThanOrEqual(0);
      }
    }
  });

  it('keeps a letter with its combining marks whole', () => {
    // Vietnamese typed with combining marks: "ế" is e + U+0302 + U+0301.
    const viet = 'Tie\u0302\u0301ng Vie\u0323\u0302t '.repeat(8);
    const a = wellFormed(viet);
    expect(a.encoding).toBe('UCS-2');
    for (const p of a.parts) expect(p).not.toMatch(/^\p{M}/u);
  });

  it('splits a cluster longer than a part between code points, never inside a surrogate pair', () => {
    const zalgo = `a${'\u0301'.repeat(100)}😀${'\u0302'.repeat(100)}`;
    const a = wellFormed(zalgo);
    expect(a.segments).toBe(4);
  });

  it('sends real non-Latin text as UCS-2', () => {
    expect(wellFormed('Ваш заказ 4821 будет доставлен сегодня между 14:00 и 16:00.')).toMatchObject({
      encoding: 'UCS-2',
      segments: 1,
    });
    expect(
      wellFormed('طلبك رقم ٤٨٢١ في الطريق وسيصل اليوم بين الساعة الثانية والرابعة مساءً. شكراً لك'),
    ).toMatchObject({
      encoding: 'UCS-2',
      segments: 2,
    });
    expect(wellFormed('ご注文の商品は本日14時から16時の間にお届けします。')).toMatchObject({ segments: 1 });
  });

  it('lists non-GSM characters once each, in order of appearance, whole clusters', () => {
    expect(analyzeText('Olá, você está aí? Sim, está.').nonGsmCharacters).toEqual(['á', 'ê', 'í']);
    expect(analyzeText('Hi 👋🏽 see you 👋🏽 at the café 🇫🇷').nonGsmCharacters).toEqual(['👋🏽', '🇫🇷']);
    expect(analyzeText('Cafe\u0301').nonGsmCharacters).toEqual(['e\u0301']);
    expect(analyzeText('ça, ça, Ça').nonGsmCharacters).toEqual(['ç']);
  });
});

describe('smart encoding', () => {
  it('replaces typographic look-alikes when that makes the text GSM-7', () => {
    const body = 'It’s “great” — really… « oui » see you\u00a0soon';
    expect(analyzeText(body).encoding).toBe('UCS-2');
    const a = wellFormed(body, true);
    expect(a).toMatchObject({
      encoding: 'GSM-7',
      text: 'It\'s "great" - really... " oui " see you soon',
      nonGsmCharacters: [],
      segments: 1,
    });
    expect(a.smartReplacements).toEqual([
      { from: '’', to: "'", count: 1 },
      { from: '“', to: '"', count: 1 },
      { from: '”', to: '"', count: 1 },
      { from: '—', to: '-', count: 1 },
      { from: '…', to: '...', count: 1 },
      { from: '«', to: '"', count: 1 },
      { from: '»', to: '"', count: 1 },
      { from: '\u00a0', to: ' ', count: 1 },
    ]);
  });

  it('turns a three-part UCS-2 message into one GSM-7 part', () => {
    const body = `Don’t miss it: ${'a'.repeat(140)}`;
    expect(segmentsOf(body)).toBe(3);
    expect(segmentsOf(body, { smartEncoding: true })).toBe(1);
  });

  it('keeps French typography readable: no-break spaces and € (two septets)', () => {
    const a = wellFormed('Prix\u202f: 10\u00a0€ – livraison offerte', true);
    expect(a).toMatchObject({ encoding: 'GSM-7', text: 'Prix : 10 € - livraison offerte', units: 32 });
  });

  it('composes decomposed accents that GSM-7 carries', () => {
    const a = wellFormed('Cafe\u0301 au lait, cre\u0300me', true);
    expect(a).toMatchObject({ encoding: 'GSM-7', text: 'Café au lait, crème' });
    expect(a.smartReplacements).toEqual([
      { from: 'e\u0301', to: 'é', count: 1 },
      { from: 'e\u0300', to: 'è', count: 1 },
    ]);
  });

  it('drops invisible characters', () => {
    expect(analyzeText('Hello\u200b world\ufeff', { smartEncoding: true }).text).toBe('Hello world');
  });

  it('leaves the text alone when it stays UCS-2 anyway', () => {
    const body = 'It’s party time 🎉 — see you…';
    const a = wellFormed(body, true);
    expect(a).toMatchObject({ encoding: 'UCS-2', text: body, smartReplacements: [] });
    expect(a.nonGsmCharacters).toEqual(['’', '🎉', '—', '…']);
  });

  it('does nothing to text that is GSM-7 already', () => {
    expect(analyzeText('Plain "ASCII" - text...', { smartEncoding: true }).smartReplacements).toEqual([]);
  });
});

describe('segmentsOf agrees with analyzeText on mixed text', () => {
  it('for many pseudo-random bodies', () => {
    const alphabet = [...'abc €[é ç ж😀🇫🇷👍🏽e\u0301’—…\u00a0\n'];
    let seed = 42;
    const rnd = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 400; i++) {
      const len = Math.floor(rnd() * 400);
      let body = '';
      for (let j = 0; j < len; j++) body += alphabet[Math.floor(rnd() * alphabet.length)];
      // Keep some bodies GSM so both branches are exercised.
      if (i % 3 === 0) body = body.replace(/[^a-c €[é\n]/gu, 'x');
      wellFormed(body, i % 2 === 0);
    }
  });
});

describe('speed', () => {
  it('analyzes a typical campaign body in microseconds', () => {
    const gsm =
      'Hi Ana, your order 48213 ships today. Track it at https://ex.am/p/48213 Reply STOP to opt out';
    const ucs = 'Привет, Анна! Ваш заказ 48213 отправлен сегодня. Отслеживание: https://ex.am/p/48213 🚚';
    const n = 20_000;
    // CPU time, so other processes on the machine matter less than wall time would.
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      analyzeText(gsm);
      analyzeText(ucs);
    }
    const t = process.cpuUsage(t0);
    const us = (t.user + t.system) / (2 * n);
    console.log(`analyzeText: ${us.toFixed(2)} µs/call`);
    expect(us).toBeLessThan(50);
  });
});
