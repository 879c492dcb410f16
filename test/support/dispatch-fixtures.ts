// What the dispatcher tests share: a carriers file with two capped carriers and a fast one over one
// SMPP connector, fresh numbers under a carrier's prefix, and messages stored and produced as the
// API would.
import { randomUUID } from 'node:crypto';
import { KafkaService } from '../../src/infra/kafka/kafka.service';
import { CarriersFile, carriersFileSchema } from '../../src/modules/carriers/carriers.config';
import { analyzeText } from '../../src/modules/encoding';
import { MessageRepository } from '../../src/modules/messages/message.repository';
import type { MessageType, OutboundEnvelope } from '../../src/modules/messages/message.types';
import type { TestEngine } from './engine';

export const SENDER = '+14155550100';
// Carriers by prefix: two capped ones (the 50 and 200 segments/s) and a fast one.
export const SLOW = '+1202'; // alpha, 50
export const MID = '+1303'; // beta, 200
export const FAST = '+44'; // gamma, 1000

export function carriersFile(smppPort: number): CarriersFile {
  return carriersFileSchema.parse({
    connectors: [
      {
        id: 'smpp',
        kind: 'smpp',
        host: '127.0.0.1',
        port: smppPort,
        system_id: 'parley',
        password: 'secret',
        binds: 2,
        window: 100,
        enquire_link_seconds: 5,
        response_timeout_ms: 3_000,
      },
    ],
    carriers: [
      { id: 'alpha', prefixes: [SLOW], segments_per_second: 50 },
      { id: 'beta', prefixes: [MID], segments_per_second: 200 },
      { id: 'gamma', prefixes: [FAST], segments_per_second: 1000 },
    ],
    // Sender caps well above the carriers' so the carrier caps are what is measured.
    senders: [{ address: SENDER, kind: 'long_code', segments_per_second: 5000, connector: 'smpp' }],
  });
}

let seq = 0;
const run = Math.floor(Math.random() * 900) + 100;
/** A fresh number under a prefix (11 digits for +1, 12 otherwise), unique within a run. */
export const numberUnder = (prefix: string) => {
  const digits = (prefix.startsWith('+1') ? 12 : 13) - prefix.length;
  return `${prefix}${String(run * 10_000 + ++seq)
    .padStart(digits, '0')
    .slice(-digits)}`;
};

export interface Spec {
  to: string;
  body?: string;
  type?: MessageType;
  topic?: 'sms.outbound' | 'sms.outbound.priority';
  validUntil?: number;
  quietHours?: OutboundEnvelope['quietHours'];
  optOutConfirmation?: boolean;
}

/** Stores messages as the API would (accepted) and produces their envelopes, in order. */
export async function send(
  engine: TestEngine,
  workspaceId: string,
  specs: Spec[],
): Promise<OutboundEnvelope[]> {
  const envs = specs.map((s, i) => {
    const body = s.body ?? `Your parcel ${i} is on its way`;
    const a = analyzeText(body);
    const env: OutboundEnvelope = {
      id: randomUUID(),
      workspaceId,
      to: s.to,
      from: SENDER,
      body,
      encoding: a.encoding,
      segments: a.segments,
      type: s.type ?? 'transactional',
      acceptedAt: Date.now(),
      ...(s.validUntil !== undefined ? { validUntil: s.validUntil } : {}),
      ...(s.quietHours ? { quietHours: s.quietHours } : {}),
      ...(s.optOutConfirmation ? { optOutConfirmation: true } : {}),
    };
    return env;
  });
  await engine.app.get(MessageRepository).insertAccepted(
    envs.map((e) => ({
      id: e.id,
      workspaceId,
      type: e.type,
      to: e.to,
      sender: e.from,
      body: e.body,
      encoding: e.encoding,
      segments: e.segments,
      acceptedAt: new Date(e.acceptedAt),
      validUntil: e.validUntil ? new Date(e.validUntil) : null,
    })),
  );
  const kafka = engine.app.get(KafkaService);
  const byTopic = new Map<string, OutboundEnvelope[]>();
  specs.forEach((s, i) => {
    const t = s.topic ?? 'sms.outbound.priority';
    byTopic.set(t, [...(byTopic.get(t) ?? []), envs[i]]);
  });
  for (const [topic, list] of byTopic)
    await kafka.produce(
      topic as 'sms.outbound',
      list.map((e) => ({ key: e.to, value: JSON.stringify(e) })),
    );
  return envs;
}
