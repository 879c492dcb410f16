// The campaign API's request shapes (zod: validation and OpenAPI from one schema).
import { z } from 'zod/v4';
import { createdKey, pageQuery } from '../../infra/http/pagination';
import { replyHandlersSchema } from '../replies/reply-handlers';

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM');

export const createCampaignSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    audience_id: z.uuid(),
    segment_id: z.uuid().optional(),
    /** A sender address or a pool name. */
    from: z.string().trim().min(1).max(40),
    body: z.string().min(1).max(1_600),
    type: z.enum(['marketing', 'transactional']),
    schedule_at: z.iso.datetime({ offset: true }).optional(),
    /** Only stricter than the legal window of each recipient. */
    quiet_hours: z.object({ start: hhmm, end: hhmm }).strict().optional(),
    validity_seconds: z
      .number()
      .int()
      .min(60)
      .max(7 * 24 * 3600)
      .optional(),
    max_segments_per_second: z.number().positive().max(100_000).optional(),
    /** Share of a carrier two concurrent campaigns get relative to each other. */
    weight: z.number().int().min(1).max(100).default(1),
    reply_handlers: replyHandlersSchema.default([]),
    status_callback: z.string().url().optional(),
    /** Messages longer than 10 segments are refused unless allowed. */
    allow_long: z.boolean().optional(),
  })
  .strict();

export type CreateCampaignInput = z.infer<typeof createCampaignSchema>;

/** GET /v1/campaigns: newest first, paged by (created_at, id). */
export const listQuery = pageQuery(createdKey);
