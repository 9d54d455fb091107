import type { Principal } from '../auth/api-keys.ts'
import type { ProviderConfig } from '../../infra/config/config.ts'
import type { ProviderAdapter, ProviderCredential, ProviderName } from '../providers/types.ts'
import type { CredentialStore } from './proxy.ts'

/** Gateway-hosted credentials from SUPERGATE_<PROVIDER>_API_KEY and _BASE_URL. */
export class ConfigCredentials implements CredentialStore {
  readonly #credentials = new Map<ProviderName, ProviderCredential>()

  constructor(providers: Readonly<Record<ProviderName, ProviderConfig>>, adapters: readonly ProviderAdapter[]) {
    for (const adapter of adapters) {
      const configured = providers[adapter.name]
      if (configured.apiKey === undefined) continue
      this.#credentials.set(adapter.name, {
        apiKey: configured.apiKey,
        source: 'gateway',
        baseUrl: (configured.baseUrl ?? adapter.defaultBaseUrl).replace(/\/+$/, ''),
      })
    }
  }

  credentialFor(provider: ProviderName, _principal: Principal): ProviderCredential | undefined {
    return this.#credentials.get(provider)
  }

  has(provider: ProviderName, _principal?: Principal): boolean {
    return this.#credentials.has(provider)
  }
}
