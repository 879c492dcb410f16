// What every id Parley hands out looks like: a UUID in its usual text form (any version, any case).
// Checked before an id reaches PostgreSQL, whose uuid type refuses anything else with an error.
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (s: unknown): s is string => typeof s === 'string' && UUID_PATTERN.test(s);
