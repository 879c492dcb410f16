// Audiences, their imports, contacts and segments over HTTP.
import { Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiConsumes, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpStatus } from '@nestjs/common';
import { Readable } from 'node:stream';
import { z } from 'zod/v4';
import { ApiError } from '../../infra/http/api-error';
import { Idempotent } from '../../infra/http/idempotency';
import { createdKey, keysetOf, page, pageQuery } from '../../infra/http/pagination';
import { ApiZodBody, ApiZodQuery, ZodBody, ZodQuery } from '../../infra/http/zod';
import { CurrentWorkspace } from '../workspaces/auth.guard';
import type { Workspace } from '../workspaces/workspace.repository';
import { deriveConsentState, summarize } from '../consent/consent-state';
import { eventJson, e164OrThrow } from '../consent/consent-http';
import { ConsentRepository } from '../consent/consent.repository';
import { AudienceRepository } from './audience.repository';
import { ContactRepository } from './contact.repository';
import { ImportFormat, ImportService } from './import.service';
import { FilterError, parseFilter } from './segment-filter';
import { SegmentRepository } from './segment.repository';

const uuid = new ParseUUIDPipe({
  exceptionFactory: () => ApiError.badRequest('id: must be a UUID', { field: 'id' }),
});

const AudienceBody = z.object({ name: z.string().trim().min(1).max(200) });
const AudienceListQuery = pageQuery(createdKey);

const ImportQuery = z.object({
  default_country: z
    .string()
    .regex(/^[A-Za-z]{2}$/, 'an ISO 3166 alpha-2 country code, e.g. US')
    .transform((s) => s.toUpperCase())
    .optional(),
});

const SegmentBody = z.object({
  audience_id: z.uuid(),
  name: z.string().trim().min(1).max(200).optional(),
  filter: z.unknown(),
});

const FORMATS: Record<string, ImportFormat> = {
  'text/csv': 'csv',
  'text/plain': 'csv',
  'application/x-ndjson': 'ndjson',
  'application/ndjson': 'ndjson',
};

@ApiTags('audiences')
@ApiBearerAuth()
@Controller('v1')
export class AudiencesController {
  constructor(
    private readonly audiences: AudienceRepository,
    private readonly contacts: ContactRepository,
    private readonly segments: SegmentRepository,
    private readonly imports: ImportService,
    private readonly consent: ConsentRepository,
  ) {}

  @Post('audiences')
  @HttpCode(201)
  @Idempotent()
  @ApiZodBody(AudienceBody)
  async createAudience(
    @CurrentWorkspace() ws: Workspace,
    @ZodBody(AudienceBody) body: z.infer<typeof AudienceBody>,
  ) {
    const a = await this.audiences.create(ws.id, body.name);
    return { id: a.id, name: a.name, created_at: a.created_at.toISOString() };
  }

  /** Newest first; pages by (created_at, id). */
  @Get('audiences')
  @ApiZodQuery(AudienceListQuery)
  async listAudiences(
    @CurrentWorkspace() ws: Workspace,
    @ZodQuery(AudienceListQuery) q: z.infer<typeof AudienceListQuery>,
  ) {
    const rows = await this.audiences.list(ws.id, keysetOf(q));
    const p = page(rows, q.limit, (a) => [a.sort_at, a.id]);
    return {
      data: p.data.map((a) => ({ id: a.id, name: a.name, created_at: a.created_at.toISOString() })),
      next_cursor: p.next_cursor,
    };
  }

  @Get('audiences/:id')
  async getAudience(@CurrentWorkspace() ws: Workspace, @Param('id', uuid) id: string) {
    const a = await this.audiences.find(ws.id, id);
    if (!a) throw ApiError.notFound('audience', id);
    return {
      id: a.id,
      name: a.name,
      created_at: a.created_at.toISOString(),
      ...(await this.audiences.counts(ws.id, id)),
    };
  }

  /** The body is a stream (engine.ts): rows reach staging as they arrive. */
  @Post('audiences/:id/imports')
  @HttpCode(202)
  @ApiConsumes('text/csv', 'application/x-ndjson')
  @ApiZodQuery(ImportQuery)
  async createImport(
    @CurrentWorkspace() ws: Workspace,
    @Param('id', uuid) id: string,
    @ZodQuery(ImportQuery) q: z.infer<typeof ImportQuery>,
    @Req() req: FastifyRequest,
  ) {
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const format = FORMATS[type];
    if (!format) {
      throw new ApiError(
        HttpStatus.UNSUPPORTED_MEDIA_TYPE,
        'unsupported_media_type',
        `content-type: expected text/csv or application/x-ndjson, got ${type || 'none'}`,
      );
    }
    const body = req.body instanceof Readable ? req.body : Readable.from([]);
    return this.imports.receive(ws.id, id, format, q.default_country ?? null, body);
  }

  @Get('imports/:id')
  getImport(@CurrentWorkspace() ws: Workspace, @Param('id', uuid) id: string) {
    return this.imports.get(ws.id, id);
  }

  @Post('imports/:id/retry')
  @HttpCode(202)
  retryImport(@CurrentWorkspace() ws: Workspace, @Param('id', uuid) id: string) {
    return this.imports.retry(ws.id, id);
  }

  @Get('imports/:id/errors')
  async importErrors(
    @CurrentWorkspace() ws: Workspace,
    @Param('id', uuid) id: string,
    @Res() reply: FastifyReply,
  ) {
    const lines = await this.imports.errorsCsv(ws.id, id);
    await reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="import-${id}-errors.csv"`)
      .send(Readable.from(lines));
  }

  /** A contact, its attributes and audiences, and its consent as derived from its ledger events. */
  @Get('contacts/:e164')
  async getContact(@CurrentWorkspace() ws: Workspace, @Param('e164') raw: string) {
    const e164 = e164OrThrow(decodeURIComponent(raw), undefined, 'e164');
    const contact = await this.contacts.findByE164(ws.id, e164);
    const events = await this.consent.events(ws.id, { e164 });
    if (!contact && !events.length) throw ApiError.notFound('contact', e164);
    const state = summarize(
      deriveConsentState(
        events.map((e) => ({
          kind: e.kind,
          scope: e.scope,
          senderAddress: e.sender_address,
          source: e.source,
          occurredAt: e.occurred_at,
        })),
      ).values(),
    );
    return {
      e164,
      contact: contact
        ? {
            id: String(contact.id),
            country: contact.country,
            line_type: contact.line_type,
            first_name: contact.first_name,
            last_name: contact.last_name,
            email: contact.email,
            timezone: contact.timezone,
            attributes: contact.attributes,
            audiences: await this.contacts.audiencesOf(ws.id, contact.id),
            created_at: contact.created_at.toISOString(),
            updated_at: contact.updated_at.toISOString(),
          }
        : null,
      consent: {
        status: state.status,
        since: state.since?.toISOString() ?? null,
        source: state.source,
        senders: state.senders.map((s) => ({ ...s, since: s.since.toISOString() })),
      },
      events: events.map(eventJson),
    };
  }

  @Post('segments')
  @HttpCode(201)
  @Idempotent()
  @ApiZodBody(SegmentBody)
  async createSegment(
    @CurrentWorkspace() ws: Workspace,
    @ZodBody(SegmentBody) body: z.infer<typeof SegmentBody>,
  ) {
    const filter = this.checkedFilter(body.filter);
    if (!(await this.audiences.find(ws.id, body.audience_id)))
      throw ApiError.notFound('audience', body.audience_id);
    const count = await this.segments.count(ws.id, body.audience_id, filter);
    const seg = await this.segments.create(ws.id, body.audience_id, body.name ?? null, body.filter);
    return { id: seg.id, audience_id: seg.audience_id, name: seg.name, count };
  }

  @Get('segments/:id')
  async getSegment(@CurrentWorkspace() ws: Workspace, @Param('id', uuid) id: string) {
    const seg = await this.segments.find(ws.id, id);
    if (!seg) throw ApiError.notFound('segment', id);
    const count = await this.segments.count(ws.id, seg.audience_id, parseFilter(seg.filter));
    return { id: seg.id, audience_id: seg.audience_id, name: seg.name, filter: seg.filter, count };
  }

  private checkedFilter(filter: unknown) {
    if (filter === undefined) return undefined;
    try {
      return parseFilter(filter);
    } catch (e) {
      if (e instanceof FilterError) {
        throw ApiError.badRequest(e.message, { path: e.path, reason: e.reason }, 'invalid_filter');
      }
      throw e;
    }
  }
}
