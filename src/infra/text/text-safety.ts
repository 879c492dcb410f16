// Which text the engine keeps as it was sent. PostgreSQL text and jsonb refuse U+0000, so a NUL
// that reaches a query turns a client's mistake into a 500; the pg driver turns a lone UTF-16
// surrogate into U+FFFD without a word, so what we stored would differ from what was sent; and
// U+FFFE / U+FFFF are noncharacters no sender means. Text carrying any of them is refused, naming
// where it was, before it reaches a handler or the database. Pure: no framework.

/** How many arrays and objects deep a value may nest; deeper is refused without reading further. */
export const MAX_TEXT_DEPTH = 64;

/** Without the `u` flag a regex reads UTF-16 units, which is what finds a surrogate alone. */
// eslint-disable-next-line no-control-regex -- U+0000 is exactly what this looks for
const UNSAFE = /[\u0000\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g');

/**
 * Why a string cannot be kept as sent (its first offending character), or undefined. A surrogate's
 * position counts UTF-16 units from 0, as JavaScript indexes a string.
 */
export function unsafeTextReason(s: string): string | undefined {
  const m = UNSAFE.exec(s);
  if (!m) return undefined;
  switch (m[0].charCodeAt(0)) {
    case 0:
      return 'contains U+0000 (NUL)';
    case 0xfffe:
      return 'contains the noncharacter U+FFFE';
    case 0xffff:
      return 'contains the noncharacter U+FFFF';
    default:
      return `contains an unpaired UTF-16 surrogate at character ${m.index}`;
  }
}

/** The text with each unsafe character replaced by U+FFFD, for reports that must show it anyway. */
export function replaceUnsafeText(s: string): string {
  return UNSAFE.test(s) ? s.replace(UNSAFE_ALL, '\uFFFD') : s;
}

export interface UnsafeText {
  /** Where: `body`, `metadata.order.note`, `messages[3].body`, `metadata["a\u0000b"]` for a key. */
  path: string;
  reason: string;
}

/** One array or object being read: its keys (none for an array) and the next entry to read. */
interface Level {
  node: Record<string, unknown> | unknown[];
  keys: string[] | null;
  length: number;
  next: number;
}

/**
 * Only what JSON gives: arrays and plain objects. Anything else (a Buffer, a stream) is not a
 * document to read, and a class instance may compute its properties.
 */
function isDocument(v: unknown): v is Record<string, unknown> | unknown[] {
  if (typeof v !== 'object' || v === null) return false;
  if (Array.isArray(v)) return true;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function levelOf(node: Record<string, unknown> | unknown[]): Level {
  if (Array.isArray(node)) return { node, keys: null, length: node.length, next: 0 };
  const keys = Object.keys(node);
  return { node, keys, length: keys.length, next: 0 };
}

const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** Longer keys are cut in paths: a path names a field, it does not repeat a megabyte key. */
const MAX_KEY_SHOWN = 64;
const MAX_PATH_SHOWN = 1_024;

/** A key as a path segment; any other key is quoted so the path itself is always safe text. */
function segment(key: string | number): string {
  if (typeof key === 'number') return `[${key}]`;
  if (PLAIN_KEY.test(key) && key.length <= MAX_KEY_SHOWN) return `.${key}`;
  const shown = key.length > MAX_KEY_SHOWN ? `${key.slice(0, MAX_KEY_SHOWN)}…` : key;
  // JSON.stringify escapes NUL and lone surrogates; the two noncharacters it leaves as they are.
  const quoted = JSON.stringify(shown).replace(/[\uFFFE\uFFFF]/g, (c) =>
    c === '\uFFFE' ? '\\ufffe' : '\\uffff',
  );
  return `[${quoted}]`;
}

/** The path of the entry each level is at (the last one read). */
function pathOf(rootName: string, stack: Level[]): string {
  let path = rootName;
  for (const l of stack) {
    const i = l.next - 1;
    path += segment(l.keys ? l.keys[i] : i);
  }
  if (!rootName && path.startsWith('.')) path = path.slice(1);
  if (path.length > MAX_PATH_SHOWN) {
    // Cutting may split a surrogate pair of a quoted key: the halves are shown as U+FFFD.
    const half = MAX_PATH_SHOWN / 2;
    path = replaceUnsafeText(`${path.slice(0, half)}…${path.slice(-half)}`);
  }
  return path;
}

/**
 * The first string or object key (in document order) of a JSON value that cannot be kept as sent,
 * with the reason; or the first array/object nested more than `maxDepth` levels deep. Iterative
 * and linear in the size of the value, so neither depth nor size can exhaust the stack.
 * `rootName` prefixes every path (`query` gives `query.status`); empty, paths start at the keys.
 */
export function findUnsafeText(
  value: unknown,
  rootName = '',
  opts: { maxDepth?: number } = {},
): UnsafeText | undefined {
  const maxDepth = opts.maxDepth ?? MAX_TEXT_DEPTH;
  if (typeof value === 'string') {
    const reason = unsafeTextReason(value);
    return reason === undefined ? undefined : { path: rootName, reason };
  }
  if (!isDocument(value)) return undefined;
  const stack: Level[] = [levelOf(value)];
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (top.next === top.length) {
      stack.pop();
      continue;
    }
    const i = top.next++;
    let v: unknown;
    if (top.keys) {
      const key = top.keys[i];
      const reason = unsafeTextReason(key);
      if (reason !== undefined) return { path: pathOf(rootName, stack), reason };
      v = (top.node as Record<string, unknown>)[key];
    } else {
      v = (top.node as unknown[])[i];
    }
    if (typeof v === 'string') {
      const reason = unsafeTextReason(v);
      if (reason !== undefined) return { path: pathOf(rootName, stack), reason };
    } else if (isDocument(v)) {
      if (stack.length >= maxDepth) {
        return { path: pathOf(rootName, stack), reason: `nested deeper than ${maxDepth} levels` };
      }
      stack.push(levelOf(v));
    }
  }
  return undefined;
}
