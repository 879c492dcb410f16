#!/usr/bin/env node
// The local stack: a real Apache Kafka broker (KRaft, on the JVM, fetched from Maven Central into
// .cache/kafka), PostgreSQL and Redis. `up` is idempotent and only starts what is not answering;
// `down` stops only what `up` started (recorded in .cache/stack-started.json); `status` reports all.
// PARLEY_KAFKA_PORT moves Kafka to another base port (brokers on base, base+10, ...) with its own
// data under .cache/kafka/port-<base>, so a second cluster (e.g. `--brokers 3` for chaos tests)
// can run beside the default one; `down` with PARLEY_KAFKA_PORT set stops only those brokers.
// Plain Node (no build step) because `npm test` runs it before anything is compiled.
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cache = path.join(root, '.cache');
const kafkaHome = path.join(cache, 'kafka');
const startedFile = path.join(cache, 'stack-started.json');

const PG_HOST = process.env.PARLEY_PG_HOST ?? '127.0.0.1';
const PG_PORT = Number(process.env.PARLEY_PG_PORT ?? 5432);
const REDIS_HOST = process.env.PARLEY_REDIS_HOST ?? '127.0.0.1';
const REDIS_PORT = Number(process.env.PARLEY_REDIS_PORT ?? 6379);
const KAFKA_HOST = '127.0.0.1';
const DEFAULT_KAFKA_PORT = 9092;
const KAFKA_BASE_PORT = Number(process.env.PARLEY_KAFKA_PORT ?? DEFAULT_KAFKA_PORT);
// The default cluster keeps the documented layout (.cache/kafka/broker, broker-N); another base
// port gets its own folder so two clusters never share a data dir.
const clusterHome =
  KAFKA_BASE_PORT === DEFAULT_KAFKA_PORT ? kafkaHome : path.join(kafkaHome, `port-${KAFKA_BASE_PORT}`);
const clusterPorts = (n) => Array.from({ length: n }, (_, i) => KAFKA_BASE_PORT + i * 10);
const KAFKA_HEAP = process.env.PARLEY_KAFKA_HEAP ?? '512m';
const DATABASES = ['parley', 'parley_test'];

const log = (service, state, detail = '') =>
  console.log(`${service.padEnd(10)} ${state.padEnd(8)} ${detail}`.trimEnd());

function readStarted() {
  try {
    return JSON.parse(fs.readFileSync(startedFile, 'utf8'));
  } catch {
    return {};
  }
}
function writeStarted(s) {
  fs.mkdirSync(cache, { recursive: true });
  fs.writeFileSync(startedFile, JSON.stringify(s, null, 2));
}

function portOpen(host, port, timeoutMs = 500) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

async function waitFor(check, timeoutMs, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return false;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim(), status: r.status };
}
const has = (cmd) => run('sh', ['-c', `command -v ${cmd}`]).ok;

// A tiny RESP client so this script needs no npm dependency.
function redisCommand(...args) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: REDIS_HOST, port: REDIS_PORT });
    let buf = '';
    sock.setTimeout(2000, () => {
      sock.destroy();
      reject(new Error('timeout'));
    });
    sock.on('connect', () => {
      sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''));
    });
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.endsWith('\r\n')) {
        sock.end();
        if (buf.startsWith('-')) reject(new Error(buf.slice(1).trim()));
        else resolve(buf.trim());
      }
    });
    sock.on('error', reject);
  });
}

function aptInstall(pkgs) {
  if (process.getuid?.() !== 0) return false;
  run('apt-get', ['update'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return run('apt-get', ['install', '-y', ...pkgs], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  }).ok;
}

// ---------------------------------------------------------------- PostgreSQL
async function postgresUp(started) {
  let how = 'running';
  if (!(await portOpen(PG_HOST, PG_PORT))) {
    if (!has('pg_ctlcluster')) {
      if (!aptInstall(['postgresql'])) throw new Error('postgres: not installed and apt-get install failed');
      how = 'installed';
    }
    const versions = fs.existsSync('/etc/postgresql') ? fs.readdirSync('/etc/postgresql') : [];
    for (const v of versions) run('pg_ctlcluster', ['--skip-systemctl-redirect', v, 'main', 'start']);
    started.postgres = versions;
    if (how === 'running') how = 'started';
    if (!(await waitFor(() => portOpen(PG_HOST, PG_PORT), 30_000)))
      throw new Error('postgres: not answering');
  }
  // Trust auth is the local default; make sure the role we connect as exists.
  const psql = (db, sql) =>
    run('psql', ['-h', PG_HOST, '-p', String(PG_PORT), '-U', 'postgres', '-d', db, '-tAc', sql]);
  const ping = psql('postgres', 'select 1');
  if (!ping.ok) throw new Error(`postgres: ${ping.out}`);
  for (const db of DATABASES) {
    const exists = psql('postgres', `select 1 from pg_database where datname='${db}'`);
    if (exists.out !== '1') {
      const c = psql('postgres', `create database ${db}`);
      if (!c.ok && !/already exists/.test(c.out))
        throw new Error(`postgres: create database ${db}: ${c.out}`);
    }
  }
  log('postgres', 'up', `${PG_HOST}:${PG_PORT} (${how}; databases ${DATABASES.join(', ')})`);
}

// ---------------------------------------------------------------- Redis
async function redisUp(started) {
  let how = 'running';
  if (!(await portOpen(REDIS_HOST, REDIS_PORT))) {
    if (!has('redis-server')) {
      if (!aptInstall(['redis-server'])) throw new Error('redis: not installed and apt-get install failed');
      how = 'installed';
    }
    fs.mkdirSync(path.join(cache, 'redis'), { recursive: true });
    const r = run('redis-server', [
      '--daemonize',
      'yes',
      '--bind',
      REDIS_HOST,
      '--port',
      String(REDIS_PORT),
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      path.join(cache, 'redis'),
      '--pidfile',
      path.join(cache, 'redis', 'redis.pid'),
      '--logfile',
      path.join(cache, 'redis', 'redis.log'),
    ]);
    if (!r.ok) throw new Error(`redis: ${r.out}`);
    started.redis = path.join(cache, 'redis', 'redis.pid');
    if (how === 'running') how = 'started';
    if (!(await waitFor(() => portOpen(REDIS_HOST, REDIS_PORT), 15_000)))
      throw new Error('redis: not answering');
  }
  const pong = await redisCommand('PING');
  if (pong !== '+PONG') throw new Error(`redis: PING answered ${pong}`);
  // BullMQ needs keys never evicted.
  await redisCommand('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
  log('redis', 'up', `${REDIS_HOST}:${REDIS_PORT} (${how}; maxmemory-policy noeviction)`);
}

// ---------------------------------------------------------------- Kafka
function kafkaLibs() {
  const libs = path.join(kafkaHome, 'libs');
  const hasBroker = fs.existsSync(libs) && fs.readdirSync(libs).some((f) => /^kafka_2\.13-3\.9\./.test(f));
  if (hasBroker) return libs;
  if (!has('mvn')) throw new Error('kafka: Maven (mvn) is needed to fetch the broker');
  const r = run('mvn', [
    '-q',
    '-B',
    '-f',
    path.join(root, 'stack', 'pom.xml'),
    'dependency:copy-dependencies',
    `-DoutputDirectory=${libs}`,
    '-DincludeScope=runtime',
  ]);
  if (!r.ok) throw new Error(`kafka: mvn dependency:copy-dependencies failed: ${r.out.slice(-2000)}`);
  return libs;
}

function brokerConfig(id, brokers) {
  const dir = path.join(clusterHome, brokers > 1 ? `broker-${id}` : 'broker');
  const port = KAFKA_BASE_PORT + (id - 1) * 10; // 9092, 9102, 9112
  const ctrl = port + 1;
  const voters = Array.from(
    { length: brokers },
    (_, i) => `${i + 1}@${KAFKA_HOST}:${KAFKA_BASE_PORT + i * 10 + 1}`,
  );
  const rf = brokers >= 3 ? 3 : 1;
  const props = [
    'process.roles=broker,controller',
    `node.id=${id}`,
    `controller.quorum.voters=${voters.join(',')}`,
    `listeners=PLAINTEXT://${KAFKA_HOST}:${port},CONTROLLER://${KAFKA_HOST}:${ctrl}`,
    `advertised.listeners=PLAINTEXT://${KAFKA_HOST}:${port}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${path.join(dir, 'data')}`,
    'num.partitions=12',
    `default.replication.factor=${rf}`,
    `min.insync.replicas=${brokers >= 3 ? 2 : 1}`,
    `offsets.topic.replication.factor=${rf}`,
    'offsets.topic.num.partitions=12',
    `transaction.state.log.replication.factor=${rf}`,
    `transaction.state.log.min.isr=${brokers >= 3 ? 2 : 1}`,
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    'log.retention.hours=24',
    'log.segment.bytes=104857600',
  ];
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'server.properties'), props.join('\n') + '\n');
  fs.writeFileSync(
    path.join(dir, 'log4j.properties'),
    [
      'log4j.rootLogger=WARN, file',
      'log4j.appender.file=org.apache.log4j.RollingFileAppender',
      `log4j.appender.file.File=${path.join(dir, 'server.log')}`,
      'log4j.appender.file.MaxFileSize=20MB',
      'log4j.appender.file.MaxBackupIndex=2',
      'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.kafka=INFO',
      'log4j.logger.org.apache.kafka=WARN',
    ].join('\n') + '\n',
  );
  return { dir, port };
}

function java(libs, dir, mainClass, args, detached) {
  const jvm = [
    `-Xms${KAFKA_HEAP}`,
    `-Xmx${KAFKA_HEAP}`,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:TieredStopAtLevel=1',
    '-Djava.awt.headless=true',
    `-Dlog4j.configuration=file:${path.join(dir, 'log4j.properties')}`,
    '-cp',
    `${libs}/*`,
    mainClass,
    ...args,
  ];
  if (!detached) return run('java', jvm);
  const out = fs.openSync(path.join(dir, 'stdout.log'), 'a');
  const child = spawn('java', jvm, { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  return child.pid;
}

// Kafka cluster ids are base64url-encoded 16-byte UUIDs. Like Kafka's own Uuid.randomUuid(), never
// one that starts with '-': the storage tool's argument parser would read it as an option.
function newClusterId() {
  for (;;) {
    const id = Buffer.from(randomUUID().replace(/-/g, ''), 'hex').toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function clusterIdFile() {
  return path.join(kafkaHome, 'cluster-id');
}

async function kafkaUp(started, brokers) {
  const ports = clusterPorts(brokers);
  const allUp = async () => (await Promise.all(ports.map((p) => portOpen(KAFKA_HOST, p)))).every(Boolean);
  if (await allUp()) {
    log('kafka', 'up', `${ports.map((p) => `${KAFKA_HOST}:${p}`).join(',')} (running)`);
    return;
  }
  if (!has('java')) throw new Error('kafka: java is needed to run the broker');
  const libs = kafkaLibs();
  const idFile = clusterIdFile();
  let clusterId = fs.existsSync(idFile) ? fs.readFileSync(idFile, 'utf8').trim() : '';
  if (!clusterId || clusterId.startsWith('-')) {
    clusterId = newClusterId();
    fs.writeFileSync(idFile, clusterId);
  }
  started.kafka = started.kafka ?? {};
  // An open port is not yet a member of the cluster: a broker logs "Kafka Server started" only
  // once it is registered and unfenced, so a cluster is up when every new broker has said so.
  const starting = [];
  for (let id = 1; id <= brokers; id++) {
    const { dir, port } = brokerConfig(id, brokers);
    if (await portOpen(KAFKA_HOST, port)) {
      // A port answering for another cluster (say the single broker on 9092 while asking for three)
      // would leave the new brokers waiting for a quorum that never forms.
      if (brokers > 1 && !pidAlive(Number(readPidFile(path.join(dir, 'broker.pid')))))
        throw new Error(
          `kafka: ${KAFKA_HOST}:${port} is taken by a process that is not broker ${id} of this ` +
            `${brokers}-broker cluster (the single-broker stack?); stop it or set PARLEY_KAFKA_PORT`,
        );
      continue;
    }
    const props = path.join(dir, 'server.properties');
    if (!fs.existsSync(path.join(dir, 'data', 'meta.properties'))) {
      const f = java(
        libs,
        dir,
        'kafka.tools.StorageTool',
        ['format', `--cluster-id=${clusterId}`, '-c', props, '--ignore-formatted'],
        false,
      );
      if (!f.ok) throw new Error(`kafka: storage format failed: ${f.out.slice(-1500)}`);
    }
    const logFile = path.join(dir, 'server.log');
    starting.push({ id, logFile, from: fs.existsSync(logFile) ? fs.statSync(logFile).size : 0 });
    const pid = java(libs, dir, 'kafka.Kafka', [props], true);
    started.kafka[String(port)] = pid;
    fs.writeFileSync(path.join(dir, 'broker.pid'), String(pid));
  }
  writeStarted(started);
  const joined = ({ id, logFile, from }) => {
    try {
      const text = fs.readFileSync(logFile).subarray(from).toString('utf8');
      return text.includes(`[KafkaRaftServer nodeId=${id}] Kafka Server started`);
    } catch {
      return false;
    }
  };
  const clusterUp = async () => (await allUp()) && (brokers === 1 || starting.every(joined));
  if (!(await waitFor(clusterUp, 90_000, 500))) {
    throw new Error(
      `kafka: broker did not answer on ${ports.join(',')} (see ${clusterHome}/broker*/server.log)`,
    );
  }
  log('kafka', 'up', `${ports.map((p) => `${KAFKA_HOST}:${p}`).join(',')} (started, heap ${KAFKA_HEAP})`);
}

function readPidFile(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

function pidAlive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopBroker(port, pid) {
  if (!pidAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  await waitFor(async () => !pidAlive(pid), 30_000);
  if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
  log('kafka', 'stopped', `${KAFKA_HOST}:${port} (pid ${pid})`);
}

// With PARLEY_KAFKA_PORT set, `down` stops only the brokers of that base port and leaves the rest
// of the stack (and the default broker others may be using) alone.
async function downKafkaCluster() {
  const ours = new Set(clusterPorts(5).map(String));
  const started = readStarted();
  const mine = Object.entries(started.kafka ?? {}).filter(([port]) => ours.has(port));
  for (const [port, pid] of mine) await stopBroker(port, pid);
  const now = readStarted(); // re-read: another stack:up may have written meanwhile
  for (const [port] of mine) delete now.kafka?.[port];
  writeStarted(now);
  if (!mine.length) console.log(`no broker on base port ${KAFKA_BASE_PORT} was started by stack:up`);
}

async function down() {
  if (process.env.PARLEY_KAFKA_PORT) return downKafkaCluster();
  const started = readStarted();
  for (const [port, pid] of Object.entries(started.kafka ?? {})) {
    await stopBroker(port, pid);
  }
  if (started.redis && fs.existsSync(started.redis)) {
    const pid = Number(fs.readFileSync(started.redis, 'utf8'));
    if (pidAlive(pid)) process.kill(pid, 'SIGTERM');
    log('redis', 'stopped', `pid ${pid}`);
  }
  for (const v of started.postgres ?? []) {
    run('pg_ctlcluster', ['--skip-systemctl-redirect', v, 'main', 'stop']);
    log('postgres', 'stopped', `cluster ${v}/main`);
  }
  writeStarted({});
  if (!started.kafka && !started.redis && !started.postgres) console.log('nothing was started by stack:up');
}

async function status() {
  const pg = await portOpen(PG_HOST, PG_PORT);
  const rd = await portOpen(REDIS_HOST, REDIS_PORT);
  const started = readStarted();
  const kafkaPorts = [KAFKA_BASE_PORT, ...Object.keys(started.kafka ?? {}).map(Number)];
  const kf = await Promise.all([...new Set(kafkaPorts)].map(async (p) => [p, await portOpen(KAFKA_HOST, p)]));
  log(
    'postgres',
    pg ? 'up' : 'down',
    `${PG_HOST}:${PG_PORT}${started.postgres ? ' (started by stack:up)' : ''}`,
  );
  log(
    'redis',
    rd ? 'up' : 'down',
    `${REDIS_HOST}:${REDIS_PORT}${started.redis ? ' (started by stack:up)' : ''}`,
  );
  for (const [p, ok] of kf) {
    log(
      'kafka',
      ok ? 'up' : 'down',
      `${KAFKA_HOST}:${p}${started.kafka?.[String(p)] ? ` (pid ${started.kafka[String(p)]})` : ''}`,
    );
  }
  return pg && rd && kf.every(([, ok]) => ok);
}

async function up(brokers) {
  const started = readStarted();
  const steps = [
    ['postgres', () => postgresUp(started)],
    ['redis', () => redisUp(started)],
    ['kafka', () => kafkaUp(started, brokers)],
  ];
  for (const [name, step] of steps) {
    try {
      await step();
      writeStarted(started);
    } catch (e) {
      writeStarted(started);
      log(name, 'FAILED', e instanceof Error ? e.message : String(e));
      process.exit(1);
    }
  }
}

const [cmd = 'status', ...rest] = process.argv.slice(2);
const bi = rest.indexOf('--brokers');
const brokers = bi >= 0 ? Number(rest[bi + 1]) : 1;
if (!Number.isInteger(brokers) || brokers < 1 || brokers > 5) {
  console.error('--brokers must be a whole number from 1 to 5');
  process.exit(2);
}
if (cmd === 'up') await up(brokers);
else if (cmd === 'down') await down();
else if (cmd === 'status') process.exit((await status()) ? 0 : 1);
else {
  console.error(`usage: stack.mjs up [--brokers N] | down | status`);
  process.exit(2);
}
