// Which status_callback URLs Parley accepts: https only, plain http just for loopback while
// developing, and in production no address literal inside private, loopback or link-local ranges
// (a callback must never let a tenant make the engine call into its own network). Names that
// resolve to such addresses are refused again when the callback is delivered, since DNS can change.
import { isIP } from 'node:net';

export type CallbackUrlCheck = { ok: true; url: string } | { ok: false; reason: string };

// Browsers and proxies commonly cut URLs beyond this; a longer callback is a mistake, not a need.
export const MAX_CALLBACK_URL_LENGTH = 2048;

function ipv4Octets(host: string): number[] | undefined {
  if (isIP(host) !== 4) return undefined;
  return host.split('.').map(Number);
}

/** Loopback: 127.0.0.0/8, ::1, localhost and its subdomains (RFC 6761). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const v4 = ipv4Octets(h) ?? mappedIpv4(h);
  if (v4) return v4[0] === 127;
  return h === '::1';
}

// IPv4-mapped IPv6 (::ffff:10.0.0.1), which URL parsing rewrites to hex (::ffff:a00:1).
function mappedIpv4(h: string): number[] | undefined {
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  if (dotted) return ipv4Octets(dotted[1]);
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h);
  if (!hex) return undefined;
  const hi = parseInt(hex[1], 16);
  const lo = parseInt(hex[2], 16);
  return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff];
}

/** Addresses a public callback must never point at: private, loopback, link-local, unspecified. */
export function isInternalAddress(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (isLoopbackHost(h)) return true;
  const v4 = ipv4Octets(h) ?? mappedIpv4(h);
  if (v4) {
    const [a, b] = v4;
    return (
      a === 0 ||
      a === 10 ||
      (a === 100 && b >= 64 && b <= 127) || // carrier-grade NAT
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168)
    );
  }
  if (isIP(h) === 6) {
    return h === '::' || /^f[cd]/.test(h) || /^fe[89ab]/.test(h);
  }
  return false;
}

/** Checks a status_callback URL; the reason completes "status_callback: …". */
export function checkCallbackUrl(input: string, opts: { production: boolean }): CallbackUrlCheck {
  if (input.length > MAX_CALLBACK_URL_LENGTH) {
    return { ok: false, reason: `must be at most ${MAX_CALLBACK_URL_LENGTH} characters` };
  }
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return { ok: false, reason: `"${input}" is not an absolute URL` };
  }
  const host = url.hostname;
  if (url.protocol === 'http:') {
    if (opts.production || !isLoopbackHost(host)) {
      return {
        ok: false,
        reason: opts.production
          ? 'must be an https URL'
          : 'must be an https URL (http is allowed only for loopback addresses outside production)',
      };
    }
    return { ok: true, url: url.toString() };
  }
  if (url.protocol !== 'https:') return { ok: false, reason: `must be an https URL, not ${url.protocol}` };
  if (opts.production && isInternalAddress(host)) {
    return { ok: false, reason: `must not point at a private, loopback or link-local address (${host})` };
  }
  return { ok: true, url: url.toString() };
}
