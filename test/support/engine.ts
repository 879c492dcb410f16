// Starts a real engine in the test process (Fastify on an ephemeral port, the real Postgres,
// Redis and Kafka) and gives tests an API client with a fresh workspace of their own.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { ParleyEnv } from '../../src/config/config.schema';
import { Engine, createEngine } from '../../src/engine';
import { WorkspaceService } from '../../src/modules/workspaces/workspace.service';
import { testEnv } from './env';

export interface TestEngine extends Engine {
  env: ParleyEnv;
  /** A new workspace and its key; each test makes its own so tests never share rows. */
  workspace(name?: string): Promise<ApiClient>;
}

export async function startEngine(overrides: Record<string, string> = {}): Promise<TestEngine> {
  const env = testEnv(overrides);
  const engine = await createEngine(env);
  return {
    ...engine,
    env,
    async workspace(name = `ws-${randomBytes(6).toString('hex')}`) {
      const { workspace, key } = await engine.app.get(WorkspaceService).createKey(name);
      return new ApiClient(engine.url, key, workspace.id, workspace.name);
    },
  };
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
  text: string;
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly key: string | undefined,
    readonly workspaceId = '',
    readonly workspaceName = '',
  ) {}

  async request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    const h: Record<string, string> = { ...headers };
    if (this.key) h.authorization = `Bearer ${this.key}`;
    let payload: string | undefined;
    if (body !== undefined) {
      if (typeof body === 'string') payload = body;
      else {
        payload = JSON.stringify(body);
        h['content-type'] ??= 'application/json';
      }
    }
    const res = await fetch(`${this.baseUrl}${path}`, { method, headers: h, body: payload });
    const text = await res.text();
    let parsed: any = text;
    if ((res.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text);
    return { status: res.status, body: parsed as T, headers: res.headers, text };
  }

  get<T = any>(path: string, headers?: Record<string, string>) {
    return this.request<T>('GET', path, undefined, headers);
  }
  post<T = any>(path: string, body?: unknown, headers?: Record<string, string>) {
    return this.request<T>('POST', path, body ?? {}, headers);
  }
  withKey(key: string | undefined) {
    return new ApiClient(this.baseUrl, key, this.workspaceId, this.workspaceName);
  }
}

/** Polls until the check returns a truthy value or the time runs out. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false | null>,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`condition not met in ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
}

/**
 * One engine and one workspace for a whole test file: started before its tests, closed after.
 * Read them inside tests (`file.engine`, `file.api`), once beforeAll has run.
 */
export function engineForFile(overrides: Record<string, string> = {}): {
  engine: TestEngine;
  api: ApiClient;
} {
  const file = {} as { engine: TestEngine; api: ApiClient };
  beforeAll(async () => {
    file.engine = await startEngine(overrides);
    file.api = await file.engine.workspace();
  });
  afterAll(async () => {
    await file.engine?.close();
  });
  return file;
}
