// Receipts for messages whose carrier ids were lost: a dispatcher fenced a message (its connector,
// recipient, sender and submit time are on its row) and died before the carrier's answer was
// stored, so the receipt's id matches no part. Such a receipt is tied to a message only when its
// connector, handset and time fit exactly one message left open that way (`submitting` past the
// grace in which a live dispatcher would have stored the answer, or `unknown`) that still lacks a
// part; when several fit, none is guessed. Where the protocol carried our message id back (a
// provider's status callback URL), it names the message outright. Pure.
import { sameHandset } from './receipt-match';

/** A message left open by a lost answer, as the repository finds it for one receipt. */
export interface OrphanCandidate {
  messageId: string;
  workspaceId: string;
  to: string;
  sender: string;
  segments: number;
  /** Parts it has (orphan-matched receipts add them one by one). */
  parts: number;
  submittingAt: Date;
}

export interface OrphanReceipt {
  connectorId: string;
  /** The handsets the receipt names (source, then destination). */
  addresses: (string | undefined)[];
  /** Our message id where the receipt carried it back. */
  messageId?: string;
}

export type OrphanVerdict =
  | { kind: 'match'; candidate: OrphanCandidate; partIndex: number }
  | { kind: 'ambiguous'; messageIds: string[] }
  | { kind: 'none' };

/**
 * Decides for a batch of receipts, in order, given each one's candidates: a message takes at most
 * `partsPerMessage` parts, counting those given to earlier receipts of the batch.
 */
export function tieOrphans(
  receipts: readonly OrphanReceipt[],
  candidatesOf: (i: number) => readonly OrphanCandidate[],
  partsPerMessage: (connectorId: string, segments: number) => number,
): OrphanVerdict[] {
  const given = new Map<string, number>();
  return receipts.map((r, i) => {
    const fits = new Map<string, OrphanCandidate>();
    for (const c of candidatesOf(i)) {
      if (r.messageId && c.messageId !== r.messageId) continue;
      const handset = r.addresses.some((a) => sameHandset(a, c.to) && !sameHandset(a, c.sender));
      if (!handset && !r.messageId) continue;
      const taken = c.parts + (given.get(c.messageId) ?? 0);
      if (taken >= partsPerMessage(r.connectorId, c.segments)) continue;
      fits.set(c.messageId, c);
    }
    if (fits.size === 0) return { kind: 'none' };
    if (fits.size > 1) return { kind: 'ambiguous', messageIds: [...fits.keys()].sort() };
    const candidate = [...fits.values()][0];
    const partIndex = candidate.parts + (given.get(candidate.messageId) ?? 0);
    given.set(candidate.messageId, (given.get(candidate.messageId) ?? 0) + 1);
    return { kind: 'match', candidate, partIndex };
  });
}

/** The E.164 forms a receipt's address may be stored under (`+` and digits). */
export function e164Forms(address: string | undefined): string[] {
  if (!address) return [];
  const digits = address.replace(/\D/g, '');
  if (digits.length < 7 || digits.length > 15) return [];
  return [`+${digits}`];
}
