// Which URLs Parley will POST to: customers' status callbacks, campaign reply-handler webhooks and a
// workspace's reply_webhook_url. Each is chosen by an API user, so it must not become a way to reach
// Parley's own network (SSRF): https only, plain http only to loopback outside production, no
// credentials in the URL, never a private, link-local or metadata address written as an IP literal
// (nor a loopback one in production), and in production every resolved address is checked again
// at send time (DNS may change between storing and sending). The rule is checked when a URL is
// stored (the API answers 400 naming the field) and again before each send. `checkCallbackUrl` and
// `refuseResolved` are pure: the caller does the DNS lookup.
import { isIP } from 'node:net';
import { ApiError } from './api-error';

export type CallbackUrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

const LOOPBACK_NAMES = new Set(['localhost', 'localhost.localdomain', 'ip6-localhost']);

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

// [first address, prefix length] of IPv4 ranges that are not the public internet.
const V4_BLOCKED: [string, number][] = [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata lives here)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
];

function inV4Range(ip: string, base: string, bits: number): boolean {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (ipv4ToInt(ip) & mask) >>> 0 === (ipv4ToInt(base) & mask) >>> 0;
}

/** Expands an IPv6 address to its eight 16-bit groups (handles `::` and a trailing IPv4). */
function ipv6Groups(ip: string): number[] {
  let s = ip.toLowerCase().split('%')[0];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const n = ipv4ToInt(v4[1]);
    s = s.slice(0, -v4[1].length) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  const fill = tail !== undefined ? 8 - h.length - t.length : 0;
  return [...h, ...Array(fill).fill('0'), ...t].map((g) => parseInt(g || '0', 16));
}

export function isLoopbackAddress(ip: string): boolean {
  if (isIP(ip) === 4) return inV4Range(ip, '127.0.0.0', 8);
  if (isIP(ip) === 6) {
    const g = ipv6Groups(ip);
    if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return true;
    const mapped = mappedV4(g);
    return mapped !== undefined && isLoopbackAddress(mapped);
  }
  return false;
}

function mappedV4(g: number[]): string | undefined {
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated) both reach IPv4 hosts.
  const prefixZero = g.slice(0, 5).every((x) => x === 0);
  if (!prefixZero || (g[5] !== 0xffff && g[5] !== 0)) return undefined;
  if (g[5] === 0 && g[6] === 0) return undefined;
  return [g[6] >> 8, g[6] & 255, g[7] >> 8, g[7] & 255].join('.');
}

/** True for any address a callback must not reach in production. Unparseable counts as blocked. */
export function isNonPublicAddress(ip: string): boolean {
  const v = isIP(ip);
  if (v === 4) return V4_BLOCKED.some(([base, bits]) => inV4Range(ip, base, bits));
  if (v === 6) {
    const g = ipv6Groups(ip);
    if (g.every((x) => x === 0)) return true; // ::
    if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return true; // ::1
    const mapped = mappedV4(g);
    if (mapped) return isNonPublicAddress(mapped);
    if (g[0] === 0x64 && g[1] === 0xff9b) return true; // NAT64 can reach internal IPv4
    if ((g[0] & 0xfe00) === 0xfc00) return true; // unique local fc00::/7
    if ((g[0] & 0xffc0) === 0xfe80) return true; // link-local fe80::/10
    if ((g[0] & 0xffc0) === 0xfec0) return true; // site-local (deprecated) fec0::/10
    if ((g[0] & 0xff00) === 0xff00) return true; // multicast
    if (g[0] === 0x2001 && g[1] === 0x0db8) return true; // documentation
    if (g[0] === 0x2002) return true; // 6to4 embeds an arbitrary IPv4
    return false;
  }
  return true;
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
}

/** The longest URL Parley stores. */
export const MAX_CALLBACK_URL_LENGTH = 2048;

/**
 * Checks a callback URL's form (when it is stored and before each send). A literal address that is
 * not on the public internet is refused everywhere except loopback outside production (local
 * development receivers); names are checked again after resolution, in production.
 */
export function checkCallbackUrl(raw: string, opts: { production: boolean }): CallbackUrlCheck {
  if (raw.length > MAX_CALLBACK_URL_LENGTH)
    return { ok: false, reason: `must be at most ${MAX_CALLBACK_URL_LENGTH} characters` };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'not a valid URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, reason: 'must use https' };
  if (url.username || url.password) return { ok: false, reason: 'must not carry credentials' };
  const host = hostOf(url);
  const literal = isIP(host) !== 0;
  const loopback = LOOPBACK_NAMES.has(host) || (literal && isLoopbackAddress(host));
  if (url.protocol === 'http:') {
    if (opts.production) return { ok: false, reason: 'must use https' };
    if (!loopback) return { ok: false, reason: 'must use https (http only to loopback in development)' };
  }
  if (loopback) {
    if (opts.production) return { ok: false, reason: 'must not point at a loopback address' };
  } else if (literal && isNonPublicAddress(host)) {
    return { ok: false, reason: 'must not point at a private, link-local or metadata address' };
  }
  return { ok: true, url };
}

/**
 * The API's 400 (validation_failed, naming the field and the reason) for the first URL among
 * `fields` that breaks the rule; fields whose value is undefined are skipped.
 */
export function assertCallbackUrls(
  fields: readonly (readonly [path: string, url: string | undefined])[],
  opts: { production: boolean },
): void {
  const issues = fields.flatMap(([path, url]) => {
    if (url === undefined) return [];
    const checked = checkCallbackUrl(url, opts);
    return checked.ok ? [] : [{ path, message: checked.reason }];
  });
  if (issues.length) throw ApiError.validation(issues);
}

/** The reason to refuse a set of resolved addresses in production, or undefined when all are public. */
export function refuseResolved(addresses: readonly string[]): string | undefined {
  if (addresses.length === 0) return 'the host does not resolve';
  const bad = addresses.find(isNonPublicAddress);
  return bad ? `the host resolves to a non-public address (${bad})` : undefined;
}
