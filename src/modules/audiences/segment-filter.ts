// The segment filter language, checked before anything reaches SQL: a filter is a tree of
//   { "and": [f, …] } | { "or": [f, …] } | { "not": f }
//   | { "attr": name, <op>: value } | { "field": name, <op>: value }
// with <op> one of eq, neq, in, gt, lt, exists. A wrong shape is refused with the path of the
// offending part (`filter.and[1].in`) so a 400 can say exactly what to fix. Pure: the repository
// compiles the checked tree with kysely's expression builders (every value a parameter).
import { CONTACT_TEXT_COLUMNS } from './audiences.tables';

export const TEXT_FIELDS = CONTACT_TEXT_COLUMNS;
export const TIME_FIELDS = ['created_at', 'updated_at'] as const;
export type TextField = (typeof TEXT_FIELDS)[number];
export type TimeField = (typeof TIME_FIELDS)[number];
export const OPERATORS = ['eq', 'neq', 'in', 'gt', 'lt', 'exists'] as const;
export type Operator = (typeof OPERATORS)[number];

export type Target =
  { kind: 'attr'; name: string } | { kind: 'text'; name: TextField } | { kind: 'time'; name: TimeField };

export type Scalar = string | number | boolean;

export type FilterNode =
  | { kind: 'and' | 'or'; nodes: FilterNode[] }
  | { kind: 'not'; node: FilterNode }
  | { kind: 'compare'; target: Target; op: 'eq' | 'neq' | 'gt' | 'lt'; value: Scalar }
  | { kind: 'in'; target: Target; values: Scalar[] }
  | { kind: 'exists'; target: Target; value: boolean };

export class FilterError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

const LIMITS = { depth: 16, nodes: 500, list: 1_000, attrName: 128, text: 1_000 };

const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);

/** Checks a filter; `path` names the filter in messages (default "filter"). */
export function parseFilter(input: unknown, path = 'filter'): FilterNode {
  let count = 0;
  const walk = (v: unknown, p: string, depth: number): FilterNode => {
    if (++count > LIMITS.nodes) throw new FilterError(p, `a filter may have at most ${LIMITS.nodes} parts`);
    if (depth > LIMITS.depth) throw new FilterError(p, `a filter may nest at most ${LIMITS.depth} levels`);
    if (!v || typeof v !== 'object' || Array.isArray(v)) {
      throw new FilterError(p, `expected an object, got ${typeOf(v)}`);
    }
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    for (const group of ['and', 'or'] as const) {
      if (group in o) {
        if (keys.length !== 1) throw new FilterError(p, `"${group}" must be the only key of its object`);
        const list = o[group];
        if (!Array.isArray(list) || list.length === 0) {
          throw new FilterError(`${p}.${group}`, 'expected a non-empty array of filters');
        }
        return { kind: group, nodes: list.map((x, i) => walk(x, `${p}.${group}[${i}]`, depth + 1)) };
      }
    }
    if ('not' in o) {
      if (keys.length !== 1) throw new FilterError(p, '"not" must be the only key of its object');
      return { kind: 'not', node: walk(o.not, `${p}.not`, depth + 1) };
    }
    return leaf(o, p);
  };
  return walk(input, path, 0);
}

function leaf(o: Record<string, unknown>, p: string): FilterNode {
  const hasAttr = 'attr' in o;
  const hasField = 'field' in o;
  if (hasAttr === hasField) {
    const unknown = Object.keys(o).find((k) => !(OPERATORS as readonly string[]).includes(k));
    if (unknown && !hasAttr) {
      throw new FilterError(
        `${p}.${unknown}`,
        `unknown operator "${unknown}" (expected and, or, not, attr or field)`,
      );
    }
    throw new FilterError(p, 'a condition names exactly one of "attr" or "field"');
  }
  let target: Target;
  if (hasAttr) {
    const name = o.attr;
    if (typeof name !== 'string' || !name || name.length > LIMITS.attrName) {
      throw new FilterError(`${p}.attr`, `expected an attribute name (1 to ${LIMITS.attrName} characters)`);
    }
    target = { kind: 'attr', name };
  } else {
    const name = o.field;
    if ((TEXT_FIELDS as readonly unknown[]).includes(name))
      target = { kind: 'text', name: name as TextField };
    else if ((TIME_FIELDS as readonly unknown[]).includes(name))
      target = { kind: 'time', name: name as TimeField };
    else {
      throw new FilterError(
        `${p}.field`,
        `unknown field ${JSON.stringify(name)} (expected one of ${[...TEXT_FIELDS, ...TIME_FIELDS].join(', ')})`,
      );
    }
  }
  const ops = Object.keys(o).filter((k) => k !== 'attr' && k !== 'field');
  const unknown = ops.find((k) => !(OPERATORS as readonly string[]).includes(k));
  if (unknown) {
    throw new FilterError(
      `${p}.${unknown}`,
      `unknown operator "${unknown}" (expected one of ${OPERATORS.join(', ')})`,
    );
  }
  if (ops.length !== 1) {
    throw new FilterError(
      p,
      `a condition has exactly one operator (${OPERATORS.join(', ')}), found ${ops.length}`,
    );
  }
  const op = ops[0] as Operator;
  const value = o[op];
  const vp = `${p}.${op}`;
  if (op === 'exists') {
    if (typeof value !== 'boolean') throw new FilterError(vp, `expected true or false, got ${typeOf(value)}`);
    return { kind: 'exists', target, value };
  }
  if (op === 'in') {
    if (!Array.isArray(value) || value.length === 0 || value.length > LIMITS.list) {
      throw new FilterError(
        vp,
        `expected a non-empty array of at most ${LIMITS.list} values, got ${typeOf(value)}`,
      );
    }
    return { kind: 'in', target, values: value.map((x, i) => scalar(target, 'eq', x, `${vp}[${i}]`)) };
  }
  return { kind: 'compare', target, op, value: scalar(target, op, value, vp) };
}

function scalar(target: Target, op: 'eq' | 'neq' | 'gt' | 'lt' | 'in', v: unknown, p: string): Scalar {
  if (target.kind === 'time') {
    if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) {
      throw new FilterError(p, `expected an ISO 8601 date for field "${target.name}", got ${typeOf(v)}`);
    }
    return new Date(Date.parse(v)).toISOString();
  }
  if (target.kind === 'text') {
    if (typeof v !== 'string')
      throw new FilterError(p, `expected a string for field "${target.name}", got ${typeOf(v)}`);
    if (v.length > LIMITS.text) throw new FilterError(p, `longer than ${LIMITS.text} characters`);
    return v;
  }
  // Attributes: imported CSV values are text, so numbers compare numerically when the stored
  // text is a number; ordering by a boolean means nothing.
  const allowed = op === 'gt' || op === 'lt' ? ['number', 'string'] : ['number', 'string', 'boolean'];
  if (!allowed.includes(typeof v) || (typeof v === 'number' && !Number.isFinite(v))) {
    throw new FilterError(p, `expected ${allowed.join(' or ')}, got ${typeOf(v)}`);
  }
  if (typeof v === 'string' && v.length > LIMITS.text)
    throw new FilterError(p, `longer than ${LIMITS.text} characters`);
  return v as Scalar;
}
