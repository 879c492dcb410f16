// Generated demo contacts: real-looking, valid North American numbers (real area codes, exchanges
// that are not N11 or 555), names, a tier, and consent records. Each contact's time zone is one where
// it is daytime now, so the demo's marketing campaign is not held by quiet hours whatever the hour
// the demo runs; the launch plan still checks every recipient's window.
const FIRST = [
  'Olivia',
  'Liam',
  'Emma',
  'Noah',
  'Ava',
  'Elijah',
  'Sophia',
  'Mateo',
  'Isabella',
  'Lucas',
  'Mia',
  'Amelia',
  'Chloé',
  'José',
  'Zoë',
  'Aaliyah',
  'Hiro',
  'Priya',
  'Wei',
  'Fatima',
];
const LAST = [
  'Smith',
  'Johnson',
  'Garcia',
  'Nguyen',
  'Brown',
  'Martinez',
  'Lee',
  'Patel',
  'Dubois',
  'Kim',
  'Rossi',
  'Okafor',
];
const AREA_CODES = [
  '201',
  '206',
  '212',
  '303',
  '305',
  '310',
  '312',
  '404',
  '415',
  '503',
  '512',
  '602',
  '617',
  '646',
  '702',
  '713',
  '718',
  '808',
  '917',
  '919',
];
const ZONES = [
  'America/New_York', 'America/Chicago', 'America/Denver', 'America/Los_Angeles', 'America/Anchorage', 'Pacific/Honolulu',
  'Europe/London', 'Europe/Paris', 'Asia/Kolkata', 'Asia/Tokyo', 'Australia/Sydney', 'Pacific/Auckland', 'America/Sao_Paulo',
]; // prettier-ignore

function localHour(zone: string, at: Date): number {
  return Number(
    new Intl.DateTimeFormat('en-US', { timeZone: zone, hour: 'numeric', hourCycle: 'h23' }).format(at),
  );
}

/** Zones where it is between 09:00 and 19:00 now (well inside every state's window). */
export function daytimeZones(at: Date): string[] {
  const ok = ZONES.filter((z) => {
    const h = localHour(z, at);
    return h >= 9 && h < 19;
  });
  return ok.length ? ok : ['Etc/GMT-12'];
}

/**
 * A reproducible uniform generator in [0, 1) (mulberry32): 32-bit integer arithmetic (Math.imul), so
 * the sequence is long and the same everywhere (a float LCG loses precision past 2^53 and cycles
 * before 20,000 distinct numbers).
 */
export function mulberry32(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function demoContactsCsv(n: number, at: Date): { text: string } {
  const zones = daytimeZones(at);
  const rand = mulberry32(42);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const lines = ['phone,first_name,last_name,tier,timezone,opted_in_at,consent_source'];
  const used = new Set<string>();
  while (lines.length <= n) {
    const exchange = String(200 + Math.floor(rand() * 800));
    if (exchange.endsWith('11') || exchange === '555') continue;
    const number = `(${pick(AREA_CODES)}) ${exchange}-${String(Math.floor(rand() * 10_000)).padStart(4, '0')}`;
    if (used.has(number)) continue;
    used.add(number);
    const tier = pick(['gold', 'silver', 'bronze', '']);
    lines.push(
      [number, pick(FIRST), pick(LAST), tier, pick(zones), '2026-01-15T10:00:00Z', 'web-checkout'].join(','),
    );
  }
  return { text: lines.join('\n') + '\n' };
}
