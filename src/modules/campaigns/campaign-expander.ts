// Expansion: a launched campaign becomes messages, chunk by chunk of its segment (keyset pages of
// contact ids), each message with an id derived from (campaign, contact) so a retried chunk never
// produces a second message to anyone, stored and then produced to the bulk topic keyed by E.164.
// The checkpoint (last contact id) advances only after a chunk is durable on the topic, so a
// crashed or retried job resumes where it stopped; pause and cancel are seen between chunks.
import { Injectable } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { KafkaService } from '../../infra/kafka/kafka.service';
import { AppLogger } from '../../infra/logging/app-logger';
import { METRICS } from '../../infra/metrics/metric-names';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { SegmentRepository } from '../audiences/segment.repository';
import { CarrierDirectory } from '../carriers/carrier-directory.service';
import { deterministicId } from '../messages/deterministic-id';
import { AcceptedRow, MessageRepository } from '../messages/message.repository';
import type { OutboundEnvelope } from '../messages/message.types';
import { CampaignRepository, CampaignRow } from './campaign.repository';
import { messageFor } from './recipient-message';
import { compileTemplate } from './template';
import { WorkspaceRepository } from '../workspaces/workspace.repository';

export const EXPAND_CHUNK = 5_000;

@Injectable()
export class CampaignExpander {
  private readonly stage: Counter<'stage'>;

  constructor(
    private readonly repo: CampaignRepository,
    private readonly segments: SegmentRepository,
    private readonly directory: CarrierDirectory,
    private readonly messages: MessageRepository,
    private readonly kafka: KafkaService,
    private readonly workspaces: WorkspaceRepository,
    private readonly log: AppLogger,
    metrics: MetricsService,
  ) {
    this.stage = metrics.counter(
      METRICS.campaignMessages.name,
      'Campaign messages by stage.',
      METRICS.campaignMessages.labels,
    );
  }

  /** Expands until done, paused or canceled; returns what it did. Safe to run again at any point. */
  async expand(
    campaignId: string,
    onProgress?: (expanded: number) => Promise<void>,
  ): Promise<'done' | 'stopped' | 'missing'> {
    let c = await this.repo.get(undefined, campaignId);
    if (!c) return 'missing';
    const template = compileTemplate(c.body);
    const allowLong = (c.plan as { allow_long?: boolean }).allow_long === true;
    const fixedSender = this.directory.senderByAddress(c.from_address);
    const ws = (await this.workspaces.findById(c.workspace_id)) ?? { id: c.workspace_id, name: '' };
    let afterId = Number(c.checkpoint ?? 0);
    while (true) {
      if (c.status !== 'running') return 'stopped';
      const page = await this.segments.recipientsPage(
        c.workspace_id,
        c.segment_id ? { segmentId: c.segment_id } : { audienceId: c.audience_id },
        { afterId, limit: EXPAND_CHUNK, senderAddress: fixedSender?.address },
      );
      if (!page || page.length === 0) {
        await this.repo.markExpanded(c.id);
        return 'done';
      }
      const produced = await this.expandChunk(ws, c, page, template, allowLong);
      afterId = page[page.length - 1].id;
      await this.repo.advance(c.id, String(afterId), produced);
      await onProgress?.(produced);
      // Re-read between chunks: pause and cancel stop the expansion within one chunk.
      c = (await this.repo.get(undefined, campaignId))!;
    }
  }

  private async expandChunk(
    ws: { id: string; name: string },
    c: CampaignRow,
    page: Awaited<ReturnType<SegmentRepository['recipientsPage']>> & object,
    template: ReturnType<typeof compileTemplate>,
    allowLong: boolean,
  ): Promise<number> {
    const acceptedAt = new Date();
    const validUntil = c.validity_seconds ? new Date(acceptedAt.getTime() + c.validity_seconds * 1000) : null;
    const rows: AcceptedRow[] = [];
    const envelopes: OutboundEnvelope[] = [];
    const candidates = page.flatMap((r) => {
      const carrier = this.directory.carrierOf(r.e164);
      if (!carrier) return [];
      const m = messageFor(r, template, {
        marketing: c.type === 'marketing',
        override: c.quiet_hours,
        allowLong,
      });
      return m.ok ? [{ r, m, carrier }] : [];
    });
    // One Redis round trip for the chunk's sticky senders.
    const senders = await this.directory.resolveSenders(
      ws,
      c.from_address,
      candidates.map((x) => x.r.e164),
    );
    for (const { r, m, carrier } of candidates) {
      const sender = senders.get(r.e164);
      if (!sender) continue;
      const id = deterministicId('campaign', c.id, String(r.id));
      rows.push({
        id,
        workspaceId: c.workspace_id,
        campaignId: c.id,
        type: c.type,
        to: r.e164,
        sender: sender.address,
        carrierId: carrier.id,
        connectorId: sender.connector,
        body: m.text,
        encoding: m.encoding,
        segments: m.segments,
        metadata: { contact_id: r.id },
        statusCallback: c.status_callback,
        validUntil,
        acceptedAt,
      });
      envelopes.push({
        id,
        workspaceId: c.workspace_id,
        to: r.e164,
        from: sender.address,
        body: m.text,
        encoding: m.encoding,
        segments: m.segments,
        type: c.type,
        campaignId: c.id,
        ...(c.max_segments_per_second ? { campaignMaxSegmentsPerSecond: c.max_segments_per_second } : {}),
        ...(c.weight !== 1 ? { campaignWeight: c.weight } : {}),
        acceptedAt: acceptedAt.getTime(),
        ...(validUntil ? { validUntil: validUntil.getTime() } : {}),
        ...(m.timezone && m.window ? { quietHours: { ...m.window, timezone: m.timezone } } : {}),
      });
    }
    if (!rows.length) return 0;
    await this.messages.insertAccepted(rows);
    // Produced even when the rows were already stored (a retried chunk): the dispatcher's claim
    // lets each id reach the carrier at most once, and an unproduced stored row would never leave.
    await this.kafka.produce(
      'sms.outbound',
      envelopes.map((e) => ({ key: e.to, value: JSON.stringify(e) })),
    );
    this.stage.inc({ stage: 'expanded' }, rows.length);
    return rows.length;
  }
}
