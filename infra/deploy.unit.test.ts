import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { ROLES, roleParts } from '../gateway/roles.ts'
import type { Role } from '../gateway/roles.ts'
import { CONFIG_VARIABLES, ConfigError, loadConfig } from './config/config.ts'
import type { Config } from './config/config.ts'

/**
 * The deployment artefacts (Dockerfile, the compose profile `app`, infra/k8s) cannot run here: no Docker engine,
 * no cluster. What can be checked is checked: each check returns the problems it finds, every check passes on the
 * files as committed, and the last block shows each one failing on a broken copy.
 */

/** gateway/main.ts: after the shutdown deadline, how long cutting the open requests and flushing their usage may take. */
const FLUSH_AFTER_DEADLINE_MS = 5_000
/** Set by a secret's placeholder; no real value may be committed. */
const PLACEHOLDER = 'CHANGE-ME'
/** As long as a base64 or hex key, a token or a strong password: nothing committed should look like one. */
const KEY_LIKE = /[A-Za-z0-9+/=_]{16,}/

const root = new URL('../', import.meta.url)
const read = (path: string) => readFileSync(new URL(path, root), 'utf8')
const known = new Set(CONFIG_VARIABLES)

function yamlDocuments(path: string): unknown[] {
  return parseAllDocuments(read(path), { merge: true, uniqueKeys: true }).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]?.message}`)
    return doc.toJS() as unknown
  })
}

// Dockerfile: ENTRYPOINT and CMD as JSON arrays; every role is resolved against them.
const dockerfile = read('Dockerfile')
const instruction = (name: string): string[] =>
  JSON.parse(new RegExp(`^${name} (\\[.*\\])$`, 'm').exec(dockerfile)?.[1] ?? 'null') as string[]
const ENTRYPOINT = instruction('ENTRYPOINT')
const CMD = instruction('CMD')

/** The role a container runs: its entrypoint (or the image's) followed by its arguments (or the image's CMD). */
function roleOf(entrypoint: readonly string[] | undefined, args: readonly string[] | undefined): Role | undefined {
  const argv = entrypoint === undefined ? [...ENTRYPOINT, ...(args ?? CMD)] : [...entrypoint, ...(args ?? [])]
  if (argv[0] !== 'node' || argv[1] !== 'gateway/main.ts' || argv.length > 3) return undefined
  const role = argv[2] ?? 'all'
  return (ROLES as readonly string[]).includes(role) ? (role as Role) : undefined
}

function unknownNames(names: Iterable<string>, where: string): string[] {
  return [...names].filter((name) => !known.has(name)).map((name) => `${where}: ${name} is not a setting of infra/config/config.ts`)
}

/** Whether a process of this role and environment runs the outbox relay, as gateway/roles.ts decides it. */
function runsRelay(role: Role | undefined, env: Record<string, string>): boolean {
  const config = configOf(env, '').config
  return role !== undefined && config !== undefined && roleParts(role, config).relay
}

function configOf(env: Record<string, string>, where: string): { config?: Config; problems: string[] } {
  try {
    const config = loadConfig(env)
    return { config, problems: config.unknownVariables.map((name) => `${where}: unknown ${name}`) }
  } catch (error) {
    if (error instanceof ConfigError) return { problems: [`${where}: ${error.message}`] }
    throw error
  }
}

/** A placeholder, or empty; never something shaped like a key, token or password. */
function secretProblems(values: Record<string, string>, where: string, allowEmpty: boolean): string[] {
  return Object.entries(values).flatMap(([name, value]) => {
    if (allowEmpty && value === '') return []
    if (!value.includes(PLACEHOLDER)) return [`${where}: ${name} holds no ${PLACEHOLDER} placeholder`]
    return KEY_LIKE.test(value) ? [`${where}: ${name} holds something that looks like a real secret`] : []
  })
}

// Kubernetes: the fields the checks read.

interface Probe { httpGet?: { path?: string; port?: number | string } }
interface Container {
  name: string
  command?: string[]
  args?: string[]
  ports?: { name?: string; containerPort: number }[]
  env?: { name: string; value?: string }[]
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[]
  readinessProbe?: Probe
  livenessProbe?: Probe
  lifecycle?: { preStop?: { exec?: { command?: string[] }; sleep?: { seconds: number } } }
}
interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations?: Record<string, string> }
  spec: { containers: Container[]; terminationGracePeriodSeconds?: number }
}
interface Manifest {
  kind: string
  metadata: { name: string; labels?: Record<string, string> }
  data?: Record<string, string>
  stringData?: Record<string, string>
  spec?: {
    replicas?: number
    strategy?: { type?: string }
    selector?: Record<string, string> | { matchLabels: Record<string, string> }
    template?: PodTemplate
    ports?: { targetPort?: number | string }[]
    scaleTargetRef?: { kind: string; name: string }
    minReplicas?: number
  }
}

const K8S_DIR = 'infra/k8s/'
const loadK8s = (): Manifest[] =>
  readdirSync(new URL(K8S_DIR, root))
    .filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml')
    .flatMap((file) => yamlDocuments(K8S_DIR + file) as Manifest[])

const workloads = (ms: Manifest[]) => ms.filter((m) => ['Deployment', 'StatefulSet'].includes(m.kind))
const component = (m: Manifest) => m.spec?.template?.metadata.labels['app.kubernetes.io/component']
const gatewayOf = (ms: Manifest[]) => workloads(ms).find((m) => component(m) === 'gateway')
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v)

/** The environment a container starts with, its Secret left out (placeholders, invalid by design). */
function podEnv(ms: Manifest[], c: Container): Record<string, string> {
  const configMaps = (c.envFrom ?? []).flatMap((source) => ms.filter((m) => m.kind === 'ConfigMap' && m.metadata.name === source.configMapRef?.name))
  return Object.assign({}, ...configMaps.map((m) => m.data ?? {}), Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? '']))) as Record<string, string>
}

function portOf(c: Container, port: number | string | undefined): number | undefined {
  return typeof port === 'number' ? port : c.ports?.find((p) => p.name === port)?.containerPort
}

function preStopMs(c: Container): number {
  const { exec, sleep } = c.lifecycle?.preStop ?? {}
  if (sleep !== undefined) return sleep.seconds * 1000
  return exec?.command?.[0] === 'sleep' ? Number(exec.command[1]) * 1000 : 0
}

/** Every check over the manifests, by name; each returns the problems it finds. */
const k8sChecks: Record<string, (ms: Manifest[]) => string[]> = {
  roles: (ms) =>
    workloads(ms).flatMap((w) =>
      (w.spec?.template?.spec.containers ?? []).flatMap((c) => {
        const role = roleOf(c.command, c.args)
        if (role === undefined) return [`${w.metadata.name}: runs ${JSON.stringify([...(c.command ?? []), ...(c.args ?? [])])}, not a role`]
        return role === component(w) ? [] : [`${w.metadata.name}: runs role ${role} as component ${component(w)}`]
      }),
    ),
  variables: (ms) => [
    ...ms.flatMap((m) => unknownNames(Object.keys({ ...m.data, ...m.stringData }), `${m.kind} ${m.metadata.name}`)),
    ...workloads(ms).flatMap((w) => (w.spec?.template?.spec.containers ?? []).flatMap((c) => unknownNames((c.env ?? []).map((e) => e.name), w.metadata.name))),
  ],
  config: (ms) => workloads(ms).flatMap((w) => (w.spec?.template?.spec.containers ?? []).flatMap((c) => configOf(podEnv(ms, c), w.metadata.name).problems)),
  probes: (ms) =>
    workloads(ms).flatMap((w) =>
      (w.spec?.template?.spec.containers ?? []).flatMap((c) => {
        const config = configOf(podEnv(ms, c), w.metadata.name).config
        const port = config?.port
        const metricsPort = config?.metricsPort ?? port
        const wrong = (probe: Probe | undefined, path: string) => probe?.httpGet?.path !== path || portOf(c, probe.httpGet.port) !== port
        return [
          ...(wrong(c.readinessProbe, '/ready') ? [`${w.metadata.name}: readiness is not GET /ready on port ${port}`] : []),
          ...(wrong(c.livenessProbe, '/health') ? [`${w.metadata.name}: liveness is not GET /health on port ${port}`] : []),
          ...(w.spec?.template?.metadata.annotations?.['prometheus.io/port'] !== String(metricsPort) ? [`${w.metadata.name}: not scraped on its metrics port ${metricsPort}`] : []),
        ]
      }),
    ),
  grace: (ms) =>
    workloads(ms).flatMap((w) =>
      (w.spec?.template?.spec.containers ?? []).flatMap((c) => {
        const shutdownMs = configOf(podEnv(ms, c), w.metadata.name).config?.shutdownTimeoutMs ?? Infinity
        const graceMs = (w.spec?.template?.spec.terminationGracePeriodSeconds ?? 30) * 1000
        const neededMs = preStopMs(c) + shutdownMs + FLUSH_AFTER_DEADLINE_MS
        return graceMs > neededMs ? [] : [`${w.metadata.name}: ${graceMs} ms of grace, needs more than ${neededMs}`]
      }),
    ),
  projections: (ms) => {
    const p = workloads(ms).filter((w) => component(w) === 'projections')
    return p.length === 1 && p[0]?.kind === 'Deployment' && p[0].spec?.replicas === 1 && p[0].spec.strategy?.type === 'Recreate'
      ? []
      : ['projections: not one Deployment of 1 replica with strategy Recreate']
  },
  outboxRelay: (ms) => {
    const relays = workloads(ms).flatMap((w) =>
      (w.spec?.template?.spec.containers ?? []).filter((c) => runsRelay(roleOf(c.command, c.args), podEnv(ms, c))).map(() => w.spec?.replicas ?? 1),
    )
    const total = relays.reduce((a, b) => a + b, 0)
    return total === 1 ? [] : [`${total} outbox relays run (exactly one may)`]
  },
  secrets: (ms) =>
    ms
      .filter((m) => m.kind === 'Secret')
      .flatMap((m) => [
        ...secretProblems({ ...m.stringData, ...Object.fromEntries(Object.entries(m.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])) }, `Secret ${m.metadata.name}`, false),
        // A placeholder left in place must stop the process, not run it with a known key.
        ...['SUPERGATE_MASTER_KEY', 'SUPERGATE_ADMIN_TOKEN'].flatMap((name) => (configOf({ [name]: m.stringData?.[name] ?? '' }, m.metadata.name).problems.length > 0 ? [] : [`Secret ${m.metadata.name}: ${name} would be accepted as it is`])),
      ]),
  gatewayScaling: (ms) => {
    const gateway = gatewayOf(ms)
    const labels = gateway?.spec?.template?.metadata.labels ?? {}
    const container = gateway?.spec?.template?.spec.containers[0]
    const port = container === undefined ? undefined : configOf(podEnv(ms, container), 'gateway').config?.port
    const selectorOf = (m: Manifest) => {
      const selector = m.spec?.selector
      return selector !== undefined && 'matchLabels' in selector ? (selector.matchLabels as Record<string, string>) : selector
    }
    const selected = (kind: string) => ms.filter((m) => m.kind === kind && selectorOf(m) !== undefined && matches(selectorOf(m) ?? {}, labels))
    const hpa = ms.find((m) => m.kind === 'HorizontalPodAutoscaler' && m.spec?.scaleTargetRef?.kind === gateway?.kind && m.spec?.scaleTargetRef?.name === gateway?.metadata.name)
    const service = selected('Service').find((s) => container !== undefined && s.spec?.ports?.every((p) => portOf(container, p.targetPort) === port))
    return [
      ...(gateway?.spec?.replicas === 2 ? [] : ['gateway: not 2 replicas']),
      ...(hpa !== undefined && (hpa.spec?.minReplicas ?? 1) >= 2 ? [] : ['gateway: no HorizontalPodAutoscaler with at least 2 replicas targets it']),
      ...(selected('PodDisruptionBudget').length === 1 ? [] : ['gateway: not one PodDisruptionBudget selects it']),
      ...(service === undefined ? ['gateway: no Service selects it on its HTTP port'] : []),
    ]
  },
}

// docker compose: the fields the checks read.

interface ComposeService {
  profiles?: string[]
  build?: { context: string; dockerfile?: string; args?: Record<string, string> }
  entrypoint?: string[]
  command?: string[]
  environment?: Record<string, string | number | boolean | null>
  ports?: string[]
  volumes?: string[]
  depends_on?: Record<string, { condition?: string }>
  stop_grace_period?: string
  healthcheck?: unknown
}
interface Compose { services: Record<string, ComposeService> }

const loadCompose = () => yamlDocuments('infra/docker-compose.yml')[0] as Compose
/** The services tests and docs depend on, with their host ports, exactly as before the `app` profile. */
const BACKING_PORTS: Record<string, string[]> = {
  postgres: ['127.0.0.1:54329:5432'],
  redis: ['127.0.0.1:63799:6379'],
  kafka: ['127.0.0.1:19092:19092'],
  clickhouse: ['127.0.0.1:8123:8123'],
  kurrentdb: ['127.0.0.1:2113:2113'],
}
const SECRET_NAMES = /^SUPERGATE_(MASTER_KEY|ADMIN_TOKEN|[A-Z]+_API_KEY)$/
const appServices = (c: Compose) => Object.entries(c.services).filter(([, s]) => s.profiles?.includes('app'))
const composeEnv = (s: ComposeService) => Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)]))
const seconds = (duration: string | undefined) => Number(/^(\d+)s$/.exec(duration ?? '10s')?.[1] ?? NaN)

const composeChecks: Record<string, (c: Compose) => string[]> = {
  backingServices: (c) =>
    Object.entries(BACKING_PORTS).flatMap(([name, ports]) =>
      JSON.stringify(c.services[name]?.ports) === JSON.stringify(ports) && !c.services[name]?.profiles?.includes('app') ? [] : [`${name}: its ports or profile changed`],
    ),
  roles: (c) => {
    const roles = appServices(c).map(([name, s]) => [name, roleOf(s.entrypoint, s.command)] as const)
    const count = (role: string) => roles.filter(([, r]) => r === role).length
    return [
      ...roles.filter(([, role]) => role === undefined).map(([name]) => `${name}: runs no role`),
      ...(count('gateway') >= 2 && count('projections') === 1 && count('sink') >= 1 ? [] : ['profile app: not 2+ gateways, 1 projections, 1+ sink']),
    ]
  },
  variables: (c) => appServices(c).flatMap(([name, s]) => [...unknownNames(Object.keys(composeEnv(s)), name), ...configOf(composeEnv(s), name).problems]),
  noInlineSecrets: (c) => appServices(c).flatMap(([name, s]) => Object.keys(composeEnv(s)).filter((k) => SECRET_NAMES.test(k)).map((k) => `${name}: ${k} belongs in supergate.env`)),
  wiring: (c) =>
    appServices(c).flatMap(([name, s]) => {
      const env = composeEnv(s)
      const ch = c.services.clickhouse?.environment ?? {}
      const pg = c.services.postgres?.environment ?? {}
      const expected = {
        SUPERGATE_DATABASE_URL: `postgres://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@postgres:5432/${pg.POSTGRES_DB}`,
        SUPERGATE_REDIS_URL: 'redis://redis:6379',
        SUPERGATE_KAFKA_BROKERS: 'kafka:9092',
        SUPERGATE_CLICKHOUSE_URL: `http://${ch.CLICKHOUSE_USER}:${ch.CLICKHOUSE_PASSWORD}@clickhouse:8123/${ch.CLICKHOUSE_DB}`,
      }
      const healthy = ['postgres', 'redis', 'kafka', 'clickhouse'].filter((d) => s.depends_on?.[d]?.condition !== 'service_healthy' || c.services[d]?.healthcheck === undefined)
      return [
        ...Object.entries(expected).filter(([k, v]) => env[k] !== v).map(([k, v]) => `${name}: ${k} is not ${v}`),
        ...healthy.map((d) => `${name}: does not wait for ${d} to be healthy`),
        ...(s.build?.context === '..' && (s.build.dockerfile ?? 'Dockerfile') === 'Dockerfile' ? [] : [`${name}: not built from the root Dockerfile`]),
      ]
    }),
  grace: (c) =>
    appServices(c).flatMap(([name, s]) => {
      const shutdownMs = configOf(composeEnv(s), name).config?.shutdownTimeoutMs ?? Infinity
      return seconds(s.stop_grace_period) * 1000 > shutdownMs + FLUSH_AFTER_DEADLINE_MS ? [] : [`${name}: stop_grace_period too short`]
    }),
  gatewaySpools: (c) => {
    const gateways = appServices(c).filter(([, s]) => roleOf(s.entrypoint, s.command) === 'gateway')
    const spools = gateways.map(([, s]) => s.volumes?.find((v) => v.endsWith(`:${composeEnv(s).SUPERGATE_DATA_DIR}`)))
    return spools.every((v) => v !== undefined) && new Set(spools).size === gateways.length ? [] : ['gateways: each needs a volume of its own at SUPERGATE_DATA_DIR']
  },
  outboxRelay: (c) => {
    const relays = appServices(c).filter(([, s]) => runsRelay(roleOf(s.entrypoint, s.command), composeEnv(s)))
    return relays.length === 1 ? [] : [`${relays.length} outbox relays run (exactly one may)`]
  },
  hostPorts: (c) => {
    const ports = Object.values(c.services).flatMap((s) => (s.ports ?? []).map((p) => p.split(':').slice(0, -1).join(':')))
    return new Set(ports).size === ports.length ? [] : ['two services publish the same host port']
  },
}

function envFile(path: string): Record<string, string> {
  const lines = read(path).split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'))
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]))
}

describe('Dockerfile', () => {
  const dockerignore = read('.dockerignore').split('\n')
  it('runs gateway/main.ts on Node 24 as a non-root user, role all by default', () => {
    expect(/^ARG NODE_IMAGE=node:24[-.]/m.test(dockerfile) && !/^FROM node:(?!24)/m.test(dockerfile)).toBe(true)
    expect(ENTRYPOINT).toEqual(['node', 'gateway/main.ts'])
    expect(roleOf(undefined, undefined)).toBe('all')
    expect(/^USER (?!root|0\b)\S+/m.test(dockerfile)).toBe(true)
    expect(dockerfile).toMatch(/^EXPOSE 8080$/m)
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n?.*\/ready/m)
  })
  it('keeps tests and deployment secrets out of the image', () => {
    expect(dockerfile).not.toMatch(/^COPY\s+(\S+\s+)*(\.\/)?test\b/m)
    for (const pattern of ['**/*.test.ts', '**/fixtures/', 'infra/k8s/', 'infra/*.env']) expect(dockerignore).toContain(pattern)
    expect(dockerignore.filter((line) => line.startsWith('!test'))).toEqual([])
  })
})

describe('Kubernetes manifests (infra/k8s)', () => {
  const manifests = loadK8s()
  it.each(Object.keys(k8sChecks))('%s', (name) => {
    expect(k8sChecks[name]?.(manifests)).toEqual([])
  })
  it('kustomization lists every manifest but the Secret template', () => {
    const kustomization = yamlDocuments(`${K8S_DIR}kustomization.yaml`)[0] as { resources: string[] }
    const files = readdirSync(new URL(K8S_DIR, root)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    expect(kustomization.resources.toSorted()).toEqual(files.filter((f) => f !== 'secret.example.yaml').toSorted())
  })
})

describe('docker compose (infra/docker-compose.yml)', () => {
  const compose = loadCompose()
  it.each(Object.keys(composeChecks))('%s', (name) => {
    expect(composeChecks[name]?.(compose)).toEqual([])
  })
  it('infra/supergate.env.example names known settings and holds placeholders only', () => {
    const env = envFile('infra/supergate.env.example')
    expect(Object.keys(env)).toContain('SUPERGATE_MASTER_KEY')
    expect(unknownNames(Object.keys(env), 'supergate.env.example')).toEqual([])
    expect(secretProblems(env, 'supergate.env.example', true)).toEqual([])
    expect(read('infra/.gitignore').split('\n')).toContain('supergate.env')
    expect(read(`${K8S_DIR}.gitignore`).split('\n')).toContain('secret.yaml')
  })
})

describe('the checks catch what they look for', () => {
  const gatewayContainer = (ms: Manifest[]) => gatewayOf(ms)?.spec?.template?.spec.containers[0] as Container
  const configMap = (ms: Manifest[]) => ms.find((m) => m.kind === 'ConfigMap') as Manifest & { data: Record<string, string> }
  const secret = (ms: Manifest[]) => ms.find((m) => m.kind === 'Secret') as Manifest & { stringData: Record<string, string> }
  const projections = (ms: Manifest[]) => workloads(ms).find((w) => component(w) === 'projections') as Manifest & { spec: { strategy: { type: string } } }
  const k8sBreaks: [string, string, (ms: Manifest[]) => void][] = [
    ['roles', 'a misspelt role', (ms) => (gatewayContainer(ms).args = ['gateways'])],
    ['roles', 'the gateway running the sink', (ms) => (gatewayContainer(ms).args = ['sink'])],
    ['variables', 'a misspelt setting', (ms) => (configMap(ms).data.SUPERGATE_LOGLEVEL = 'info')],
    ['config', 'an invalid value', (ms) => (configMap(ms).data.SUPERGATE_KAFKA_BROKERS = 'kafka')],
    ['probes', 'readiness on /health', (ms) => ((gatewayContainer(ms).readinessProbe as Probe).httpGet = { path: '/health', port: 'http' })],
    ['probes', 'a port the probes miss', (ms) => (configMap(ms).data.SUPERGATE_PORT = '9090')],
    ['grace', 'a shutdown timeout past the grace period', (ms) => (configMap(ms).data.SUPERGATE_SHUTDOWN_TIMEOUT_MS = '40000')],
    ['projections', 'a rolling update', (ms) => (projections(ms).spec.strategy.type = 'RollingUpdate')],
    ['projections', 'two replicas', (ms) => (projections(ms).spec.replicas = 2)],
    ['outboxRelay', 'gateways running as all', (ms) => Object.assign(gatewayContainer(ms), { args: ['all'], env: [] })],
    ['secrets', 'a real-looking master key', (ms) => (secret(ms).stringData.SUPERGATE_MASTER_KEY = Buffer.alloc(32, 7).toString('base64'))],
    ['secrets', 'a placeholder token the gateway would accept', (ms) => (secret(ms).stringData.SUPERGATE_ADMIN_TOKEN = `${PLACEHOLDER}-${'x'.repeat(8)}-but-long-enough`)],
    ['gatewayScaling', 'no PodDisruptionBudget', (ms) => ms.splice(ms.findIndex((m) => m.kind === 'PodDisruptionBudget'), 1)],
  ]
  it.each(k8sBreaks)('k8s %s: %s', (name, _case, breakIt) => {
    const manifests = loadK8s()
    breakIt(manifests)
    expect(k8sChecks[name]?.(manifests)).not.toEqual([])
  })

  const service = (c: Compose, name: string) => c.services[name] as ComposeService & { environment: Record<string, string> }
  const composeBreaks: [string, string, (c: Compose) => void][] = [
    ['backingServices', "Redis's host port moved", (c) => (service(c, 'redis').ports = ['127.0.0.1:6379:6379'])],
    ['roles', 'a misspelt role', (c) => (service(c, 'gateway-1').command = ['gatway'])],
    ['variables', 'a misspelt setting', (c) => (service(c, 'sink').environment.SUPERGATE_CLICKHOUSE = 'http://clickhouse:8123')],
    ['noInlineSecrets', 'an admin token in the file', (c) => (service(c, 'projections').environment = { ...service(c, 'projections').environment, SUPERGATE_ADMIN_TOKEN: 'x'.repeat(30) })],
    ['wiring', 'not waiting for a healthy database', (c) => (service(c, 'gateway-2').depends_on = { postgres: { condition: 'service_started' } })],
    ['wiring', "Kafka's host listener", (c) => (service(c, 'sink').environment = { ...service(c, 'sink').environment, SUPERGATE_KAFKA_BROKERS: '127.0.0.1:19092' })],
    ['grace', 'the default 10 s grace', (c) => (service(c, 'projections').stop_grace_period = '10s')],
    ['gatewaySpools', 'two gateways on one spool', (c) => (service(c, 'gateway-2').volumes = service(c, 'gateway-1').volumes)],
    ['outboxRelay', 'a second projections service', (c) => (c.services['projections-2'] = service(c, 'projections'))],
    ['hostPorts', 'a host port taken twice', (c) => (service(c, 'sink').ports = ['127.0.0.1:8081:8080'])],
  ]
  it.each(composeBreaks)('compose %s: %s', (name, _case, breakIt) => {
    const compose = loadCompose()
    breakIt(compose)
    expect(composeChecks[name]?.(compose)).not.toEqual([])
  })
})
