import { alertRuleRoutes } from './alert-rules.ts'
import { alertRoutes } from './alerts.ts'
import { auditRoutes } from './audit.ts'
import { balanceRoutes } from './balance.ts'
import { budgetRoutes } from './budgets.ts'
import { cacheSettingsRoutes } from './cache-settings.ts'
import { credentialRoutes } from './credentials.ts'
import { creditRoutes } from './credits.ts'
import { keyRoutes } from './keys.ts'
import { memberRoutes } from './members.ts'
import { priceOverrideRoutes } from './price-overrides.ts'
import { projectRoutes } from './projects.ts'
import { rateLimitRoutes } from './rate-limits.ts'
import { reportRoutes } from './reports.ts'
import { selfRoutes } from './self.ts'
import { tenantRoutes } from './tenants.ts'

/** Every admin endpoint, in the order the OpenAPI document lists them. */
export const ADMIN_ROUTES = [
  ...selfRoutes,
  ...tenantRoutes,
  ...projectRoutes,
  ...memberRoutes,
  ...keyRoutes,
  ...credentialRoutes,
  ...creditRoutes,
  ...balanceRoutes,
  ...budgetRoutes,
  ...rateLimitRoutes,
  ...cacheSettingsRoutes,
  ...alertRuleRoutes,
  ...alertRoutes,
  ...priceOverrideRoutes,
  ...reportRoutes,
  ...auditRoutes,
]
