/**
 * The admin API as the dashboard uses it. The key lives in sessionStorage only: it goes with this tab,
 * never into a URL, localStorage or a cookie, and it is sent only as a bearer header to our own origin.
 */

const KEY_ITEM = 'supergate.dashboard.apiKey'
const ADMIN = '/admin/v1'

/** Roles that may read the chargeback report (the permission matrix's reports.read). */
export const REPORT_ROLES = ['owner', 'admin', 'billing']

export const session = {
  key: () => sessionStorage.getItem(KEY_ITEM),
  signIn: (key) => sessionStorage.setItem(KEY_ITEM, key),
  signOut: () => sessionStorage.removeItem(KEY_ITEM),
}

/** An answer other than 2xx, with the API's own message (`{error: {message, code}}`) when it sent one. */
export class ApiError extends Error {
  constructor(status, message, code) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
  }

  /** The key is wrong, revoked or may not read this: the user must sign in with another. */
  get isAuth() {
    return this.status === 401 || this.status === 403
  }
}

async function get(path, query) {
  const key = session.key()
  if (key === null) throw new ApiError(401, 'Sign in with an API key.', 'signed_out')
  const search = query === undefined ? '' : `?${new URLSearchParams(query).toString()}`
  let response
  try {
    response = await fetch(`${ADMIN}${path}${search}`, { headers: { authorization: `Bearer ${key}`, accept: 'application/json' }, cache: 'no-store' })
  } catch {
    throw new ApiError(0, 'The gateway did not answer. Check your connection and try again.', 'network')
  }
  const body = await response.json().catch(() => null)
  if (!response.ok) {
    const error = body?.error
    throw new ApiError(response.status, error?.message ?? `The gateway answered ${response.status}.`, error?.code ?? null)
  }
  return body
}

/** Who the key is: `{keyId, name, tenantId, role, projectId}`. */
export const whoAmI = () => get('/me')

/** Everything one dashboard view shows, for one tenant and one range, fetched in parallel. */
export async function loadDashboard(tenantId, range) {
  const tenant = `/tenants/${encodeURIComponent(tenantId)}`
  const report = (groupBy) => get(`${tenant}/reports/chargeback`, { from: range.from, to: range.to, groupBy })
  const [info, byDay, byProject, byKey, byModel, balance, budgets, alerts, rules, projects] = await Promise.all([
    get(tenant),
    report('day'),
    report('project'),
    report('key'),
    report('model'),
    get(`${tenant}/balance`),
    get(`${tenant}/budgets/status`),
    get(`${tenant}/alerts`, { limit: '20' }),
    get(`${tenant}/alert-rules`),
    get(`${tenant}/projects`),
  ])
  return { info, byDay, byProject, byKey, byModel, balance, budgets: budgets.data, alerts: alerts.data, rules: rules.data, projects: projects.data }
}
