import type { Logger } from 'pino'
import type { Config } from '../infra/config/config.ts'
import { ConfigKeyResolver } from './auth/api-keys.ts'
import { ADAPTERS } from './providers/registry.ts'
import type { ProviderAdapter } from './providers/types.ts'
import { ConfigCredentials } from './proxy/config-credentials.ts'
import type { UsageMeter } from './proxy/usage.ts'
import { CircuitBreakers } from './routing/circuit-breaker.ts'
import { ModelRouter } from './routing/models.ts'
import type { V1RoutesOptions } from './routes/v1.ts'
import { UpstreamClient } from './upstream/client.ts'

/** Until usage events land (issue 5), metered calls are logged: counts and ids, never content. */
export function loggingMeter(logger: Logger): UsageMeter {
  return {
    record: (entry) => logger.info({ metered: { ...entry, latencyMs: Math.round(entry.latencyMs) } }, 'call metered'),
  }
}

export interface GatewayParts extends V1RoutesOptions {
  close(): Promise<void>
}

/** The data plane's parts, from configuration: keys, credentials, routing, upstream HTTP, breakers. */
export function createGateway(
  config: Config,
  options: { logger: Logger; adminToken?: string; meter?: UsageMeter; adapters?: readonly ProviderAdapter[] },
): GatewayParts {
  const adapters = options.adapters ?? ADAPTERS
  const credentials = new ConfigCredentials(config.providers, adapters)
  const client = new UpstreamClient(config.upstream)
  const router = new ModelRouter({ adapters, aliases: config.modelAliases, isAvailable: (p) => credentials.has(p) })
  return {
    proxy: { router, credentials, client, breakers: new CircuitBreakers({ threshold: config.breaker.failures, cooldownMs: config.breaker.cooldownMs }), retries: config.upstream.retries },
    keys: new ConfigKeyResolver(config.apiKeys, options.adminToken),
    meter: options.meter ?? loggingMeter(options.logger),
    close: () => client.close(),
  }
}
