// deploy/ against the code: the compose file, the Kubernetes manifests, the Prometheus rules and
// the Grafana dashboard must name only environment variables, roles, probe paths, ports, images,
// consumer groups and metrics the engine really has. No network; promtool runs when it is on PATH.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { ROLES, envSchema, parseEnv } from '../src/config/config.schema';
import { TOPICS } from '../src/config/config.service';
import { METRICS } from '../src/infra/metrics/metric-names';
import { carriersFileSchema } from '../src/modules/carriers/carriers.config';
import { dispatchSubscription } from '../src/modules/dispatch/dispatch.consumer';

const ROOT = path.resolve(__dirname, '..');
const DEPLOY = path.join(ROOT, 'deploy');
const read = (rel: string) => fs.readFileSync(path.join(DEPLOY, rel), 'utf8');

const ENGINE_VARS = new Set(Object.keys(envSchema.shape));
// Variables the manifests name that the engine's schema does not, each with why it is there.
const NON_ENGINE_VARS: Record<string, string> = {
  PARLEY_COMMIT: 'build commit shown by parley_build_info; read by src/infra/build-info.ts',
  PARLEY_IMAGE: 'compose: the engine image to run',
  KAFKA_CLUSTER_ID: 'compose: KRaft cluster id shared by the three brokers',
  POSTGRES_USER: 'postgres image: user created on first start',
  POSTGRES_PASSWORD: 'postgres image: its password',
  POSTGRES_DB: 'postgres image: database created on first start',
  GF_SECURITY_ADMIN_PASSWORD: 'grafana image: admin password',
  GF_USERS_ALLOW_SIGN_UP: 'grafana image: self sign-up',
};
// Third-party images configure themselves from variables with these prefixes.
const IMAGE_ENV: Record<string, RegExp> = {
  'apache/kafka': /^(KAFKA_[A-Z0-9_]+|CLUSTER_ID)$/,
  postgres: /^POSTGRES_[A-Z]+$/,
  'grafana/grafana': /^GF_[A-Z0-9_]+$/,
};
const ENGINE_IMAGE_REPO = 'parley/engine';
const PORT = '3000';

const imageRepo = (image: string) => image.replace(/:[^/:]+$/, '');
const isEngineImage = (image: string | undefined) => !!image && imageRepo(image) === ENGINE_IMAGE_REPO;

// ------------------------------------------------------------------ compose
const envExample: Record<string, string> = Object.fromEntries(
  read('compose/.env.example')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const i = l.indexOf('=');
      return [l.slice(0, i), l.slice(i + 1)];
    }),
);
const composeText = read('compose/docker-compose.yml');
const compose = parse(composeText, { merge: true }) as {
  services: Record<string, any>;
  volumes?: Record<string, unknown>;
};
const PLACEHOLDER = /(?<!\$)\$\{([A-Za-z0-9_]+)(?::?-([^}]*))?\}/g;

/** Resolves ${VAR:-default} the way compose does, with or without a .env made from .env.example. */
function resolveCompose(value: unknown, withEnvFile: boolean): string {
  return String(value).replace(PLACEHOLDER, (_, name: string, dflt?: string) =>
    withEnvFile && name in envExample && envExample[name] !== '' ? envExample[name] : (dflt ?? ''),
  );
}
const envOf = (svc: any): Record<string, string> =>
  Array.isArray(svc.environment)
    ? Object.fromEntries(svc.environment.map((kv: string) => kv.split(/=(.*)/s).slice(0, 2)))
    : Object.fromEntries(Object.entries(svc.environment ?? {}).map(([k, v]) => [k, String(v)]));
const engineServices = Object.entries(compose.services).filter(([, s]) =>
  isEngineImage(resolveCompose(s.image, false)),
);
const roleServices = engineServices.filter(([, s]) => envOf(s).PARLEY_ROLES !== undefined);
const commandOf = (svc: any): string[] =>
  Array.isArray(svc.command) ? svc.command.map(String) : String(svc.command ?? '').split(/\s+/);

// ------------------------------------------------------------------ kubernetes
const K8S_DIR = path.join(DEPLOY, 'kubernetes');
const k8sFiles = fs
  .readdirSync(K8S_DIR, { recursive: true })
  .map(String)
  .filter((f) => /\.ya?ml$/.test(f));
const k8sDocs = k8sFiles.flatMap((f) =>
  parseAllDocuments(fs.readFileSync(path.join(K8S_DIR, f), 'utf8'), { merge: true })
    .map((d) => d.toJS())
    .filter((d) => d && typeof d === 'object' && d.kind)
    .map((doc: any) => ({ file: f, doc })),
);
const kustomization = parse(fs.readFileSync(path.join(K8S_DIR, 'kustomization.yaml'), 'utf8'));
// What `kubectl apply -k` installs (alternatives/ are opt-in and checked separately).
const applied = k8sDocs.filter(({ file }) => kustomization.resources.includes(file));
const ofKind = (kind: string, docs = applied) =>
  docs.filter(({ doc }) => doc.kind === kind).map((d) => d.doc);
const configMap = ofKind('ConfigMap').find((c) => c.metadata.name === 'parley-config');
const secret = ofKind('Secret').find((s) => s.metadata.name === 'parley-secrets');
const podSpecOf = (w: any) => (w.kind === 'Job' ? w.spec.template.spec : w.spec.template.spec);
const workloads = [...ofKind('Deployment'), ...ofKind('Job')];
const engineContainers = workloads.flatMap((w) =>
  podSpecOf(w)
    .containers.filter((c: any) => isEngineImage(c.image))
    .map((c: any) => ({ workload: w, container: c })),
);
const roleOfDeployment = (d: any): string | undefined =>
  d.spec.template.spec.containers[0].env?.find((e: any) => e.name === 'PARLEY_ROLES')?.value;

/** The environment one engine container sees: ConfigMaps and Secrets by envFrom, then env. */
function k8sEnv(container: any): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) {
      const cm = ofKind('ConfigMap').find((c) => c.metadata.name === from.configMapRef.name);
      expect(cm, `ConfigMap ${from.configMapRef.name}`).toBeDefined();
      Object.assign(env, cm.data);
    }
    if (from.secretRef) {
      const s = ofKind('Secret').find((c) => c.metadata.name === from.secretRef.name);
      expect(s, `Secret ${from.secretRef.name}`).toBeDefined();
      Object.assign(env, s.stringData ?? {});
      for (const [k, v] of Object.entries(s.data ?? {})) env[k] = Buffer.from(String(v), 'base64').toString();
    }
  }
  for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = String(e.value);
  return env;
}
function namedPort(container: any, port: string | number): number {
  if (typeof port === 'number') return port;
  const p = container.ports?.find((x: any) => x.name === port);
  expect(p, `container port named ${port}`).toBeDefined();
  return p.containerPort;
}

// ------------------------------------------------------------------ prometheus and grafana
const alertsFile = parse(read('prometheus/alerts.yml')) as {
  groups: {
    name: string;
    rules: { alert?: string; record?: string; expr: string; labels?: any; annotations?: any }[];
  }[];
};
const rules = alertsFile.groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert);
const recorded = new Set(rules.filter((r) => r.record).map((r) => r.record!));
const dashboardFile = 'grafana/dashboards/parley-overview.json';
const dashboard = JSON.parse(read(dashboardFile));
const panels: any[] = dashboard.panels.flatMap((p: any) => [p, ...(p.panels ?? [])]);
const dashboardExprs: string[] = panels.flatMap((p) => (p.targets ?? []).map((t: any) => t.expr));
// Grafana's macros and variables, replaced by something PromQL accepts.
const grafanaToPromql = (e: string) =>
  e.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?[A-Za-z_]+\}?/g, '.*');

const PROMQL_WORDS = new Set(
  (
    'sum min max avg count stddev stdvar topk bottomk quantile count_values group by without on ignoring ' +
    'group_left group_right offset bool and or unless rate irate increase delta idelta deriv predict_linear ' +
    'histogram_quantile abs ceil floor round clamp clamp_min clamp_max absent absent_over_time time vector ' +
    'scalar label_replace label_join sort sort_desc avg_over_time min_over_time max_over_time sum_over_time ' +
    'count_over_time last_over_time quantile_over_time changes resets timestamp day_of_week hour minute month ' +
    'year exp ln log2 log10 sqrt inf nan'
  ).split(' '),
);
const TARGET_LABELS = new Set(['job', 'instance', 'role', 'namespace', 'pod']);
const defaultMetricNames = (() => {
  const r = new Registry();
  collectDefaultMetrics({ register: r });
  return new Set(r.getMetricsAsArray().map((m) => m.name));
})();
const declared = new Map<string, readonly string[]>(Object.values(METRICS).map((m) => [m.name, m.labels]));

/** Metric names an expression reads: identifiers left once strings, matchers, grouping and ranges go. */
function metricsIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\boffset\s+\d+[smhdwy]/g, ' ');
  const ids = stripped.match(/[A-Za-z_:][A-Za-z0-9_:]*/g) ?? [];
  return [...new Set(ids.filter((id) => !PROMQL_WORDS.has(id) && !/^\d/.test(id)))];
}
/** The declared metric behind a series name (histograms expose _bucket, _sum and _count). */
function baseMetric(name: string): string | undefined {
  if (declared.has(name)) return name;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return m && declared.has(m[1]) ? m[1] : undefined;
}
function unknownMetrics(expr: string): string[] {
  return metricsIn(expr).filter(
    (n) =>
      !baseMetric(n) &&
      !recorded.has(n) &&
      n !== 'up' &&
      n !== 'parley_build_info' &&
      !defaultMetricNames.has(n),
  );
}
/** Label names in selectors and grouping clauses that none of the expression's metrics carries. */
function unknownLabels(expr: string): string[] {
  const allowed = new Set([...TARGET_LABELS, 'le']);
  for (const n of metricsIn(expr)) {
    const base = baseMetric(n);
    if (base) declared.get(base)!.forEach((l) => allowed.add(l));
    if (n === 'parley_build_info') ['version', 'commit', 'node_version'].forEach((l) => allowed.add(l));
    if (recorded.has(n)) ['type', 'group', 'topic'].forEach((l) => allowed.add(l));
  }
  const used = new Set<string>();
  for (const [, body] of expr.matchAll(/\{([^}]*)\}/g))
    for (const [, label] of body.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)) used.add(label);
  for (const [, list] of expr.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g))
    list
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .forEach((l) => used.add(l));
  return [...used].filter((l) => !allowed.has(l));
}

/** GitHub's heading anchors. */
function anchorsOf(markdown: string): Set<string> {
  return new Set(
    markdown
      .split('\n')
      .filter((l) => /^#{1,6}\s/.test(l))
      .map((l) =>
        l
          .replace(/^#+\s+/, '')
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, '')
          .replace(/\s/g, '-'),
      ),
  );
}

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const hasPromtool = promtool.status === 0;
if (!hasPromtool)
  console.warn(
    'deploy.test: promtool is not on PATH; skipping `promtool check rules` / `promtool test rules` ' +
      '(apt-get install -y prometheus provides it).',
  );

// =================================================================== tests
describe('the code the manifests are checked against', () => {
  it('serves /health/live and /health/ready', () => {
    const health = fs.readFileSync(path.join(ROOT, 'src/infra/health/health.module.ts'), 'utf8');
    expect(health).toMatch(/@Controller\('health'\)/);
    expect(health).toMatch(/@Get\('live'\)/);
    expect(health).toMatch(/@Get\('ready'\)/);
  });

  it('reads PARLEY_COMMIT outside the schema (the one engine variable that is not in it)', () => {
    expect(fs.readFileSync(path.join(ROOT, 'src/infra/build-info.ts'), 'utf8')).toContain(
      'process.env.PARLEY_COMMIT',
    );
  });
});

describe('deploy/Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const instructions = dockerfile
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  it('builds on node:20-slim with npm ci and npm run build, and runs the engine on PORT', () => {
    expect(
      instructions.filter((l) => l.startsWith('FROM ')).every((l) => /^FROM node:20-slim\b/.test(l)),
    ).toBe(true);
    expect(dockerfile).toMatch(/RUN npm ci\b/);
    expect(dockerfile).toMatch(/npm run build/);
    expect(instructions).toContain('CMD ["node", "dist/src/main.js"]');
    expect(instructions).toContain(`EXPOSE ${PORT}`);
  });

  it('sets only engine variables, listening beyond loopback', () => {
    const env: Record<string, string> = {};
    for (const l of instructions.filter((x) => x.startsWith('ENV ')))
      for (const [, k, v] of l.slice(4).matchAll(/([A-Z0-9_]+)=(\S*)/g)) env[k] = v;
    for (const k of Object.keys(env)) expect(ENGINE_VARS.has(k) || k in NON_ENGINE_VARS, k).toBe(true);
    expect(env).toMatchObject({ NODE_ENV: 'production', PARLEY_HOST: '0.0.0.0', PORT });
  });
});

describe('deploy/compose', () => {
  it('runs three KRaft brokers (combined mode, RF 3, min ISR 2), postgres:15 and redis:7 with noeviction', () => {
    const kafka = Object.entries(compose.services).filter(([, s]) => /^apache\/kafka:3\.9\.1$/.test(s.image));
    expect(kafka.map(([n]) => n).sort()).toEqual(['kafka-1', 'kafka-2', 'kafka-3']);
    const ids = new Set<string>();
    for (const [name, s] of kafka) {
      const env = envOf(s);
      expect(env.KAFKA_PROCESS_ROLES).toBe('broker,controller');
      expect(env.KAFKA_DEFAULT_REPLICATION_FACTOR).toBe('3');
      expect(env.KAFKA_MIN_INSYNC_REPLICAS).toBe('2');
      expect(env.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR).toBe('3');
      expect(env.KAFKA_ADVERTISED_LISTENERS).toBe(`PLAINTEXT://${name}:9092`);
      expect(env.KAFKA_CONTROLLER_QUORUM_VOTERS).toBe('1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093');
      ids.add(env.KAFKA_NODE_ID);
      expect(s.volumes?.[0]).toMatch(new RegExp(`^${name}:/var/lib/kafka/data$`));
    }
    expect([...ids].sort()).toEqual(['1', '2', '3']);
    expect(compose.services.postgres.image).toBe('postgres:15');
    expect(compose.services.redis.image).toMatch(/^redis:7/);
    expect(commandOf(compose.services.redis).join(' ')).toContain('--maxmemory-policy noeviction');
  });

  it('runs every role from the one engine image, with a bulk and a priority dispatcher', () => {
    const roles = roleServices.map(([, s]) => envOf(s).PARLEY_ROLES);
    for (const r of roles) expect(ROLES).toContain(r);
    expect([...new Set(roles)].sort()).toEqual([...ROLES].sort());
    const dispatchers = roleServices.filter(([, s]) => envOf(s).PARLEY_ROLES === 'dispatcher');
    const topicsOf = (svc: any) =>
      parseEnv({ PARLEY_DISPATCH_TOPICS: envOf(svc).PARLEY_DISPATCH_TOPICS }).PARLEY_DISPATCH_TOPICS;
    expect(dispatchers.map(([, svc]) => topicsOf(svc)).sort()).toEqual(['bulk', 'priority']);
    const images = new Set(engineServices.map(([, s]) => resolveCompose(s.image, false)));
    expect(images.size).toBe(1);
    for (const [, s] of engineServices) {
      expect(s.build).toMatchObject({ context: '../..', dockerfile: 'deploy/Dockerfile' });
    }
    expect(fs.existsSync(path.join(DEPLOY, 'Dockerfile'))).toBe(true);
    // the migration and the simulator run from the same image through the CLI
    expect(commandOf(compose.services.migrate)).toEqual(['node', 'dist/src/cli.js', 'migrate']);
    expect(commandOf(compose.services.simulator).slice(0, 3)).toEqual([
      'node',
      'dist/src/cli.js',
      'simulate',
    ]);
  });

  it('gives engine containers only schema variables, with values the engine accepts', () => {
    for (const [name, s] of engineServices) {
      const env = envOf(s);
      for (const k of Object.keys(env))
        expect(ENGINE_VARS.has(k) || k in NON_ENGINE_VARS, `${name}: ${k}`).toBe(true);
      for (const withEnvFile of [false, true]) {
        const resolved = Object.fromEntries(
          Object.entries(env).map(([k, v]) => [k, resolveCompose(v, withEnvFile)]),
        );
        expect(() => parseEnv(resolved), `${name} (${withEnvFile ? '.env' : 'defaults'})`).not.toThrow();
        const parsed = parseEnv(resolved);
        expect(parsed.PARLEY_HOST, `${name} must listen beyond loopback`).toBe('0.0.0.0');
        expect(String(parsed.PORT)).toBe(PORT);
        expect(parsed.KAFKA_BROKERS).toEqual(['kafka-1:9092', 'kafka-2:9092', 'kafka-3:9092']);
        expect(parsed.KAFKA_REPLICATION_FACTOR).toBe(3);
        expect(parsed.DATABASE_URL).toMatch(/@postgres:5432\//);
        expect(parsed.REDIS_URL).toBe('redis://redis:6379');
      }
    }
  });

  it('names other variables only where their image documents them', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      if (isEngineImage(resolveCompose(s.image, false))) continue;
      const repo = imageRepo(String(s.image));
      for (const k of Object.keys(envOf(s))) {
        expect(IMAGE_ENV[repo]?.test(k) || k in NON_ENGINE_VARS, `${name} (${repo}): ${k}`).toBe(true);
      }
    }
  });

  it('uses only placeholders that .env.example documents, and .env.example only known names', () => {
    const placeholders = new Set([...composeText.matchAll(PLACEHOLDER)].map((m) => m[1]));
    for (const p of placeholders) expect(Object.keys(envExample), p).toContain(p);
    for (const k of Object.keys(envExample))
      expect(ENGINE_VARS.has(k) || k in NON_ENGINE_VARS, `.env.example: ${k}`).toBe(true);
  });

  it('checks readiness on /health/ready at PORT, and Prometheus scrapes each role there', () => {
    for (const [name, s] of roleServices) {
      const test = (s.healthcheck?.test ?? []).join(' ');
      expect(test, name).toContain(`127.0.0.1:${PORT}/health/ready`);
    }
    const prom = parse(read('prometheus/prometheus.yml'));
    for (const role of ROLES) {
      const job = prom.scrape_configs.find((j: any) => j.job_name === `parley-${role}`);
      expect(job, `scrape job parley-${role}`).toBeDefined();
      expect(job.metrics_path ?? '/metrics').toBe('/metrics');
      const targets = job.static_configs.flatMap((c: any) => c.targets);
      expect(job.static_configs.every((c: any) => c.labels?.role === role)).toBe(true);
      const services = roleServices.filter(([, s]) => envOf(s).PARLEY_ROLES === role).map(([n]) => n);
      expect(targets.sort()).toEqual(services.map((n) => `${n}:${PORT}`).sort());
    }
    // prometheus and grafana mount what this repository provides
    expect(compose.services.prometheus.volumes).toContain('../prometheus:/etc/prometheus:ro');
    expect(compose.services.grafana.volumes).toContain(
      '../grafana/provisioning:/etc/grafana/provisioning:ro',
    );
  });

  it('points the carriers file at the simulator service', () => {
    const carriers = carriersFileSchema.parse(parse(read('compose/carriers.yml')));
    const services = new Set(Object.keys(compose.services));
    for (const c of carriers.connectors) {
      const host = c.kind === 'smpp' ? c.host : new URL(c.base_url).hostname;
      expect(services.has(host), `connector ${c.id} → ${host}`).toBe(true);
    }
  });
});

describe('deploy/kubernetes', () => {
  it('lists every manifest of the folder in kustomization.yaml (alternatives aside)', () => {
    const top = k8sFiles.filter((f) => !f.includes(path.sep) && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(top.sort());
  });

  it('has a Deployment, Service and PodDisruptionBudget per role, with probes on the health endpoints', () => {
    const deployments = ofKind('Deployment');
    for (const role of ROLES)
      expect(
        deployments.some((x) => roleOfDeployment(x) === role),
        `Deployment for ${role}`,
      ).toBe(true);
    // Deployments of one role never select each other's pods.
    for (const a of deployments)
      for (const b of deployments)
        if (a !== b)
          expect(
            Object.entries(a.spec.selector.matchLabels).every(
              ([k, v]) => b.spec.template.metadata.labels[k] === v,
            ),
            `${a.metadata.name} selects ${b.metadata.name}'s pods`,
          ).toBe(false);
    for (const d of deployments.filter((x) => roleOfDeployment(x))) {
      const role = `${roleOfDeployment(d)} (${d.metadata.name})`;
      const c = d.spec.template.spec.containers[0];
      expect(c.livenessProbe.httpGet.path).toBe('/health/live');
      expect(c.readinessProbe.httpGet.path).toBe('/health/ready');
      if (c.startupProbe) expect(c.startupProbe.httpGet.path).toBe('/health/live');
      for (const probe of [c.livenessProbe, c.readinessProbe])
        expect(String(namedPort(c, probe.httpGet.port))).toBe(PORT);
      expect(c.resources?.requests?.cpu && c.resources?.limits?.memory, `${role} resources`).toBeTruthy();
      expect(d.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(30);
      const labels = d.spec.template.metadata.labels;
      for (const [k, v] of Object.entries(d.spec.selector.matchLabels)) expect(labels[k]).toBe(v);
      const svc = ofKind('Service').find(
        (s) => s.spec.selector && Object.entries(s.spec.selector).every(([k, v]) => labels[k] === v),
      );
      expect(svc, `Service for ${role}`).toBeDefined();
      for (const [k, v] of Object.entries(svc.spec.selector)) expect(labels[k]).toBe(v);
      expect(String(namedPort(c, svc.spec.ports[0].targetPort))).toBe(PORT);
      const pdb = ofKind('PodDisruptionBudget').find((p) =>
        Object.entries(p.spec.selector.matchLabels).every(([k, v]) => labels[k] === v),
      );
      expect(pdb, `PodDisruptionBudget for ${role}`).toBeDefined();
    }
  });

  it('gives engine containers only schema variables, with values the engine accepts', () => {
    expect(configMap).toBeDefined();
    expect(Object.keys(secret.stringData).sort()).toEqual(['DATABASE_URL', 'REDIS_URL', 'TWILIO_AUTH_TOKEN']);
    for (const k of [...Object.keys(configMap.data), ...Object.keys(secret.stringData)])
      expect(ENGINE_VARS.has(k), k).toBe(true);
    expect(engineContainers.length).toBeGreaterThan(ROLES.length);
    for (const { workload, container } of engineContainers) {
      const where = `${workload.kind} ${workload.metadata.name}`;
      for (const e of container.env ?? []) expect(ENGINE_VARS.has(e.name), `${where}: ${e.name}`).toBe(true);
      const parsed = parseEnv(k8sEnv(container));
      expect(parsed.PARLEY_HOST, where).toBe('0.0.0.0');
      expect(String(parsed.PORT)).toBe(PORT);
      expect(parsed.KAFKA_REPLICATION_FACTOR).toBe(3);
      expect(parsed.PARLEY_MIGRATE_ON_START, 'the migrate Job migrates').toBe(false);
      for (const p of container.ports ?? [])
        if (p.name === 'http') expect(String(p.containerPort)).toBe(PORT);
    }
  });

  it('uses the compose image everywhere, and migrates with a Job', () => {
    const composeImage = resolveCompose(engineServices[0][1].image, false);
    for (const { container } of engineContainers) expect(container.image).toBe(composeImage);
    const [repo, tag] = composeImage.split(':');
    expect(kustomization.images).toContainEqual({ name: repo, newTag: tag });
    const job = ofKind('Job')[0];
    expect(job.spec.template.spec.containers[0].args).toEqual(['node', 'dist/src/cli.js', 'migrate']);
    const sim = ofKind('Deployment').find((d) => d.metadata.name === 'parley-simulator');
    expect(sim.spec.template.spec.containers[0].args.slice(0, 3)).toEqual([
      'node',
      'dist/src/cli.js',
      'simulate',
    ]);
    for (const d of ofKind('Deployment').filter((x) => roleOfDeployment(x)))
      expect(d.spec.template.spec.containers[0].args).toEqual(['node', 'dist/src/main.js']);
  });

  it('scales each dispatcher Deployment on the lag of its consumer group on the topics it consumes, up to the partitions', () => {
    const prefix = configMap.data.KAFKA_TOPIC_PREFIX ?? '';
    const dispatchers = ofKind('Deployment').filter((d) => roleOfDeployment(d) === 'dispatcher');
    const subscriptionOf = (d: any) =>
      dispatchSubscription(parseEnv(k8sEnv(d.spec.template.spec.containers[0])).PARLEY_DISPATCH_TOPICS);
    // Between them the dispatcher Deployments consume every outbound topic once.
    const outbound = TOPICS.filter((t) => t.startsWith('sms.outbound') && t !== 'sms.outbound.dlq');
    expect(dispatchers.flatMap((d) => subscriptionOf(d).topics).sort()).toEqual([...outbound].sort());
    const scaled = ofKind('ScaledObject');
    expect(scaled).toHaveLength(dispatchers.length);
    const hpas = ofKind('HorizontalPodAutoscaler', k8sDocs);
    for (const dispatcher of dispatchers) {
      const sub = subscriptionOf(dispatcher);
      const so = scaled.find((x) => x.spec.scaleTargetRef.name === dispatcher.metadata.name);
      expect(so, `ScaledObject for ${dispatcher.metadata.name}`).toBeDefined();
      expect(dispatcher.spec.replicas, 'KEDA owns the replica count').toBeUndefined();
      expect(so.spec.triggers.map((t: any) => t.metadata.topic).sort()).toEqual(
        sub.topics.map((t) => prefix + t).sort(),
      );
      for (const t of so.spec.triggers) {
        expect(t.type).toBe('kafka');
        expect(t.metadata.consumerGroup).toBe(prefix + sub.groupId);
        expect(t.metadata.bootstrapServers).toBe(configMap.data.KAFKA_BROKERS);
        expect(t.metadata.allowIdleConsumers).toBe('false');
      }
      expect(String(so.spec.maxReplicaCount)).toBe(configMap.data.KAFKA_OUTBOUND_PARTITIONS);
      // the HPA alternative targets the same Deployment with the same bounds, on the same topics
      const hpa = hpas.find((h) => h.spec.scaleTargetRef.name === dispatcher.metadata.name);
      expect(hpa, `HPA alternative for ${dispatcher.metadata.name}`).toBeDefined();
      expect(hpa.spec.maxReplicas).toBe(so.spec.maxReplicaCount);
      expect(hpa.spec.metrics.map((m: any) => m.external.metric.selector.matchLabels.topic).sort()).toEqual(
        sub.topics.map((t) => prefix + t).sort(),
      );
    }
    const adapter = parse(
      fs.readFileSync(path.join(K8S_DIR, 'alternatives/prometheus-adapter-rules.yaml'), 'utf8'),
    );
    for (const r of adapter.rules.external) {
      expect(unknownMetrics(r.metricsQuery.replace(/,?<<[^>]+>>/g, ''))).toEqual([]);
      // the lag series of every dispatcher group (the label regex is anchored, as PromQL's are)
      const groups = new RegExp(`^${/group=~"([^"]+)"/.exec(r.metricsQuery)![1]}$`);
      for (const d of dispatchers) expect(prefix + subscriptionOf(d).groupId).toMatch(groups);
    }
  });

  it('monitors every role on /metrics through the http port', () => {
    const sm = ofKind('ServiceMonitor')[0];
    expect(sm.spec.endpoints[0]).toMatchObject({ port: 'http', path: '/metrics' });
    const selected = ofKind('Service').filter((s) =>
      sm.spec.selector.matchExpressions[0].values.includes(s.metadata.labels['app.kubernetes.io/component']),
    );
    expect(selected.map((s) => s.metadata.labels['app.kubernetes.io/component']).sort()).toEqual(
      [...ROLES].sort(),
    );
  });

  it('points the carriers ConfigMap at an in-cluster Service', () => {
    const cm = ofKind('ConfigMap').find((c) => c.metadata.name === 'parley-carriers');
    expect(`${configMap.data.PARLEY_CARRIERS_FILE}`).toBe('/etc/parley/carriers.yaml');
    const carriers = carriersFileSchema.parse(parse(cm.data['carriers.yaml']));
    const services = new Set(ofKind('Service').map((s) => `${s.metadata.name}.parley.svc`));
    for (const c of carriers.connectors) {
      const host = c.kind === 'smpp' ? c.host : new URL(c.base_url).hostname;
      expect(services.has(host), `connector ${c.id} → ${host}`).toBe(true);
    }
  });
});

describe('deploy/prometheus and deploy/grafana', () => {
  const runbook = fs.readFileSync(path.join(DEPLOY, 'RUNBOOK.md'), 'utf8');
  const anchors = anchorsOf(runbook);

  it('alerts read only declared metrics and labels', () => {
    for (const r of rules) {
      expect(unknownMetrics(r.expr), r.alert ?? r.record).toEqual([]);
      expect(unknownLabels(r.expr), r.alert ?? r.record).toEqual([]);
    }
    expect(alerts.length).toBeGreaterThanOrEqual(8);
  });

  it('alerts have a severity, a summary, a description and a runbook section that exists', () => {
    for (const a of alerts) {
      expect(['critical', 'warning', 'info'], a.alert).toContain(a.labels?.severity);
      expect(a.annotations?.summary, a.alert).toBeTruthy();
      expect(a.annotations?.description, a.alert).toBeTruthy();
      const m = /^deploy\/RUNBOOK\.md#(.+)$/.exec(a.annotations?.runbook_url ?? '');
      expect(m, `${a.alert} runbook_url`).not.toBeNull();
      expect(anchors.has(m![1]), `${a.alert}: RUNBOOK.md has no section #${m![1]}`).toBe(true);
    }
  });

  it('every alert has a unit test that shows it firing', () => {
    const tests = parse(read('prometheus/alerts.test.yml'));
    const fired = new Set(
      tests.tests.flatMap((t: any) =>
        (t.alert_rule_test ?? []).filter((a: any) => a.exp_alerts?.length).map((a: any) => a.alertname),
      ),
    );
    for (const a of alerts) expect(fired.has(a.alert), a.alert).toBe(true);
  });

  it('the dashboard imports with a ${DS_PROMETHEUS} input and reads only declared metrics and labels', () => {
    expect(dashboard.__inputs).toContainEqual(
      expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }),
    );
    // provisioning does not resolve __inputs; a data source variable of the same name does
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', query: 'prometheus' }),
    );
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels.filter((x) => x.type !== 'row')) {
      expect(p.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
      for (const t of p.targets) expect(t.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
    }
    for (const e of dashboardExprs) {
      expect(unknownMetrics(e), e).toEqual([]);
      expect(unknownLabels(e), e).toEqual([]);
    }
  });

  it('the dashboard shows what SREs asked for', () => {
    const all = dashboardExprs.join('\n');
    for (const m of [
      METRICS.segmentsSubmitted,
      METRICS.carrierCap,
      METRICS.receipts,
      METRICS.consumerLag,
      METRICS.throttled,
      METRICS.retries,
      METRICS.dlqMessages,
      METRICS.campaignMessages,
      METRICS.repliesByIntent,
      METRICS.optOuts,
    ])
      expect(all, m.name).toContain(m.name);
    expect(all).toMatch(/sum by \(encoding\) \(rate\(parley_segments_submitted_total/);
    expect(all).toMatch(/error_code/);
    for (const q of ['0.5', '0.95', '0.99']) {
      expect(all).toContain(
        `histogram_quantile(${q}, sum by (le) (rate(parley_receipt_latency_seconds_bucket`,
      );
      expect(all).toContain(
        `histogram_quantile(${q}, sum by (le, type) (rate(parley_accept_to_submit_seconds_bucket`,
      );
    }
  });

  it('Grafana provisioning points at the compose Prometheus and the dashboards folder', () => {
    const ds = parse(read('grafana/provisioning/datasources/prometheus.yml'));
    expect(ds.datasources[0]).toMatchObject({
      type: 'prometheus',
      url: 'http://prometheus:9090',
      isDefault: true,
    });
    const prov = parse(read('grafana/provisioning/dashboards/parley.yml'));
    const mount = compose.services.grafana.volumes.find((v: string) =>
      v.startsWith('../grafana/dashboards:'),
    );
    expect(mount.split(':')[1]).toBe(prov.providers[0].options.path);
  });

  it.skipIf(!hasPromtool)('promtool: rules are valid and their unit tests pass', () => {
    const run = (...args: string[]) => {
      const r = spawnSync('promtool', args, { cwd: path.join(DEPLOY, 'prometheus'), encoding: 'utf8' });
      expect(r.status, `promtool ${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
    };
    run('check', 'rules', 'alerts.yml');
    run('test', 'rules', 'alerts.test.yml');
    run('check', 'config', 'prometheus.yml');
  });

  it.skipIf(!hasPromtool)('promtool: every dashboard query is valid PromQL', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'parley-dash-')), 'dashboard.rules.yml');
    const asRules = dashboardExprs.map((e, i) => ({
      record: `dashboard:query:${i}`,
      expr: grafanaToPromql(e),
    }));
    fs.writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules: asRules }] }));
    const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });
});
