// Segments: a checked filter (segment-filter.ts) compiled with kysely's expression builders, every
// value a bound parameter. segmentQuery is the one way to read an audience or a segment: counting
// it, or streaming its reachable recipients in contact-id order (keyset pages) for a campaign.
import { Injectable } from '@nestjs/common';
import { Expression, ExpressionBuilder, SqlBool, sql } from 'kysely';
import type { Database } from '../../infra/db/database';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';
import { FilterNode, Scalar, Target, parseFilter } from './segment-filter';
import { CONTACT_TEXT_COLUMNS, type ContactDetails } from './audiences.tables';

type Eb = ExpressionBuilder<Database & { c: Database['contacts'] }, 'c'>;

export interface SegmentRow {
  id: string;
  audience_id: string;
  name: string | null;
  filter: unknown;
  created_at: Date;
}

/** An audience as a whole, or one of its segments. */
export type SegmentTarget = { segmentId: string } | { audienceId: string };

export interface Recipient extends ContactDetails {
  id: number;
  e164: string;
  attributes: Record<string, unknown>;
  /** Workspace-wide consent: 'opted_in' from the ledger, or null when it has none. */
  consent: 'opted_in' | null;
}

export interface RecipientPageOptions {
  /** Keyset: return contacts with id greater than this (0 for the first page). */
  afterId?: number;
  limit?: number;
  /** Also leave out numbers opted out of this sender only. */
  senderAddress?: string;
}

const NUMERIC = '^\\s*-?[0-9]+(\\.[0-9]+)?\\s*$';

function attrText(name: string) {
  return sql<string>`(${sql.ref('c.attributes')} ->> ${name})`;
}

function compare(target: Target, op: '=' | '<>' | '>' | '<', value: Scalar): Expression<SqlBool> {
  if (target.kind === 'attr') {
    const t = attrText(target.name);
    if ((op === '>' || op === '<') && typeof value === 'number') {
      // Numbers imported from CSV are text: compare those that read as numbers, numerically.
      const n = sql`(case when ${t} ~ ${NUMERIC} then (${t})::numeric end)`;
      return op === '>' ? sql<SqlBool>`${n} > ${value}` : sql<SqlBool>`${n} < ${value}`;
    }
    const v = String(value);
    if (op === '=') return sql<SqlBool>`${t} = ${v}`;
    if (op === '<>') return sql<SqlBool>`${t} is distinct from ${v}`;
    return op === '>' ? sql<SqlBool>`${t} > ${v}` : sql<SqlBool>`${t} < ${v}`;
  }
  const ref = sql.ref(`c.${target.name}`);
  const v = target.kind === 'time' ? sql`${value}::timestamptz` : sql`${value}`;
  if (op === '<>') return sql<SqlBool>`${ref} is distinct from ${v}`;
  if (op === '=') return sql<SqlBool>`${ref} = ${v}`;
  return op === '>' ? sql<SqlBool>`${ref} > ${v}` : sql<SqlBool>`${ref} < ${v}`;
}

const OPS = { eq: '=', neq: '<>', gt: '>', lt: '<' } as const;

/** The filter as a boolean expression over contacts `c`. */
export function compileFilter(eb: Eb, node: FilterNode): Expression<SqlBool> {
  switch (node.kind) {
    case 'and':
      return eb.and(node.nodes.map((n) => compileFilter(eb, n)));
    case 'or':
      return eb.or(node.nodes.map((n) => compileFilter(eb, n)));
    case 'not':
      return eb.not(compileFilter(eb, node.node));
    case 'compare':
      return compare(node.target, OPS[node.op], node.value);
    case 'in': {
      if (node.target.kind === 'attr') {
        return sql<SqlBool>`${attrText(node.target.name)} = any(${node.values.map(String)}::text[])`;
      }
      const cast = node.target.kind === 'time' ? sql`timestamptz[]` : sql`text[]`;
      return sql<SqlBool>`${sql.ref(`c.${node.target.name}`)} = any(${node.values.map(String)}::${cast})`;
    }
    case 'exists': {
      const has =
        node.target.kind === 'attr'
          ? sql<SqlBool>`jsonb_exists(${sql.ref('c.attributes')}, ${node.target.name})`
          : sql<SqlBool>`${sql.ref(`c.${node.target.name}`)} is not null`;
      return node.value ? has : eb.not(has);
    }
  }
}

/** The contact columns a recipient carries (template fields, routing, quiet hours). */
export const RECIPIENT_COLUMNS = [
  'c.id',
  ...CONTACT_TEXT_COLUMNS.map((name) => `c.${name}` as const),
  'c.attributes',
] as const;

@Injectable()
export class SegmentRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  create(workspaceId: string, audienceId: string, name: string | null, filter: unknown): Promise<SegmentRow> {
    return this.db
      .insertInto('segments')
      .values({ workspace_id: workspaceId, audience_id: audienceId, name, filter: JSON.stringify(filter) })
      .returning(['id', 'audience_id', 'name', 'filter', 'created_at'])
      .executeTakeFirstOrThrow();
  }

  find(workspaceId: string, id: string): Promise<SegmentRow | undefined> {
    return this.db
      .selectFrom('segments')
      .select(['id', 'audience_id', 'name', 'filter', 'created_at'])
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /**
   * The reachable contacts of an audience or segment: members, matching the filter, not opted
   * out workspace-wide (nor of senderAddress when given). Undefined when the segment or audience
   * is not the workspace's.
   */
  async segmentQuery(workspaceId: string, target: SegmentTarget, senderAddress?: string) {
    let audienceId: string;
    let filter: FilterNode | undefined;
    if ('segmentId' in target) {
      const seg = await this.find(workspaceId, target.segmentId);
      if (!seg) return undefined;
      audienceId = seg.audience_id;
      filter = parseFilter(seg.filter);
    } else {
      const a = await this.db
        .selectFrom('audiences')
        .select('id')
        .where('workspace_id', '=', workspaceId)
        .where('id', '=', target.audienceId)
        .executeTakeFirst();
      if (!a) return undefined;
      audienceId = a.id;
    }
    return this.reachable(workspaceId, audienceId, filter, senderAddress);
  }

  /** The same selection for a filter not (yet) saved. */
  reachable(workspaceId: string, audienceId: string, filter: FilterNode | undefined, senderAddress?: string) {
    const keys = senderAddress ? ['', senderAddress] : [''];
    return this.db
      .selectFrom('audience_members as m')
      .innerJoin('contacts as c', 'c.id', 'm.contact_id')
      .where('m.audience_id', '=', audienceId)
      .where('m.workspace_id', '=', workspaceId)
      .where('c.workspace_id', '=', workspaceId)
      .where((eb) =>
        eb.not(
          eb.exists(
            eb
              .selectFrom('consent_state as s')
              .select(sql`1`.as('one'))
              .whereRef('s.workspace_id', '=', 'c.workspace_id')
              .whereRef('s.e164', '=', 'c.e164')
              .where('s.sender_address', '=', sql<string>`any(${keys}::text[])`)
              .where('s.status', '=', 'opted_out'),
          ),
        ),
      )
      .$if(filter !== undefined, (q) => q.where((eb) => compileFilter(eb as unknown as Eb, filter!)));
  }

  async count(workspaceId: string, audienceId: string, filter: FilterNode | undefined): Promise<number> {
    const r = await this.reachable(workspaceId, audienceId, filter)
      .select(sql<number>`count(*)::int`.as('n'))
      .executeTakeFirstOrThrow();
    return r.n;
  }

  /** One keyset page of recipients, ordered by contact id; an empty page ends the walk. */
  async recipientsPage(
    workspaceId: string,
    target: SegmentTarget,
    opts: RecipientPageOptions = {},
  ): Promise<Recipient[] | undefined> {
    const q = await this.segmentQuery(workspaceId, target, opts.senderAddress);
    if (!q) return undefined;
    return q
      .where('c.id', '>', opts.afterId ?? 0)
      .select([
        ...RECIPIENT_COLUMNS,
        (eb) =>
          eb
            .selectFrom('consent_state as s')
            .select(sql<'opted_in'>`'opted_in'`.as('v'))
            .whereRef('s.workspace_id', '=', 'c.workspace_id')
            .whereRef('s.e164', '=', 'c.e164')
            .where('s.sender_address', '=', '')
            .where('s.status', '=', 'opted_in')
            .as('consent'),
      ])
      .orderBy('c.id')
      .limit(opts.limit ?? 1_000)
      .execute() as Promise<Recipient[]>;
  }

  /** Every reachable recipient, chunk by chunk (keyset pagination: constant cost per chunk). */
  async *recipients(
    workspaceId: string,
    target: SegmentTarget,
    opts: { chunkSize?: number; senderAddress?: string } = {},
  ): AsyncGenerator<Recipient[]> {
    let afterId = 0;
    while (true) {
      const page = await this.recipientsPage(workspaceId, target, {
        afterId,
        limit: opts.chunkSize ?? 1_000,
        senderAddress: opts.senderAddress,
      });
      if (!page?.length) return;
      yield page;
      afterId = page[page.length - 1].id;
    }
  }
}
