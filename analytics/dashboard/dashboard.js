/**
 * The spend dashboard: sign in with an API key, then spend over time, breakdowns by project, key and
 * model, cache savings, budgets and recent alerts for the key's tenant, from the admin API.
 * `#dashboard[data-state]` says where it is: loading, ready or error.
 */
import { ApiError, REPORT_ROLES, loadDashboard, session, whoAmI } from './api.js'
import { PALETTE, drawBreakdown, drawSpendPerDay } from './charts.js'
import { formatCount, formatUsd, percentOf, rangeFor, shortTime } from './format.js'

const $ = (id) => document.getElementById(id)
const view = { signin: $('signin'), dashboard: $('dashboard') }
const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`)

let me = null
/** Each load gets a number: a slow answer to an older one (say, the range changed meanwhile) is dropped. */
let loadSeq = 0

function showSignIn(message) {
  session.signOut()
  me = null
  view.dashboard.hidden = true
  view.signin.hidden = false
  const error = $('signin-error')
  error.textContent = message ?? ''
  error.hidden = message === undefined
  $('api-key').value = ''
  $('api-key').focus()
}

async function signIn(key) {
  session.signIn(key)
  try {
    me = await whoAmI()
  } catch (error) {
    return showSignIn(error instanceof ApiError ? error.message : String(error))
  }
  // The bootstrap admin token acts on every tenant; the dashboard shows one tenant, the key's own.
  if (me.tenantId === null) return showSignIn('This is the bootstrap admin token, which belongs to no tenant. Sign in with a key of the tenant to show.')
  if (!REPORT_ROLES.includes(me.role)) return showSignIn(`A ${me.role} key may not read spend reports. Sign in with an owner, admin or billing key.`)
  view.signin.hidden = true
  view.dashboard.hidden = false
  $('tenant-id').textContent = me.tenantId
  // A key whose name /me does not know comes back named by its id: then the role says enough.
  $('key-name').textContent = me.name === me.keyId ? `signed in with a ${me.role} key` : `${me.name} (${me.role})`
  await refresh()
}

async function refresh() {
  const seq = ++loadSeq
  const range = rangeFor($('range').value)
  view.dashboard.dataset.state = 'loading'
  view.dashboard.dataset.from = range.from
  view.dashboard.dataset.to = range.to
  $('banner').hidden = true
  let data
  try {
    data = await loadDashboard(me.tenantId, range)
  } catch (error) {
    if (seq !== loadSeq) return
    if (error instanceof ApiError && error.isAuth) return showSignIn(error.message)
    view.dashboard.dataset.state = 'error'
    $('banner').textContent = `Could not load the dashboard: ${error instanceof Error ? error.message : String(error)}`
    $('banner').hidden = false
    return
  }
  if (seq !== loadSeq) return
  render(data, range)
  view.dashboard.dataset.state = 'ready'
}

function setKpi(testId, value, sub, attributes = {}) {
  const tile = byTestId(testId)
  tile.querySelector('.value').textContent = value
  tile.querySelector('.sub').textContent = sub
  for (const [name, v] of Object.entries(attributes)) tile.dataset[name] = String(v)
}

function render(data, range) {
  const { totals } = data.byDay
  $('tenant-name').textContent = data.info.name
  const hitRate = percentOf(totals.cacheHits, totals.requests)
  setKpi('kpi-spend', formatUsd(totals.costMicroUsd), `${range.days.length} days`, { microUsd: totals.costMicroUsd })
  setKpi('kpi-requests', formatCount(totals.requests), `${formatCount(totals.failedRequests)} failed`, { value: totals.requests })
  setKpi('kpi-cache-savings', formatUsd(totals.cacheSavingsMicroUsd), `${hitRate}% served from cache`, { microUsd: totals.cacheSavingsMicroUsd })
  setKpi('kpi-rejected', formatCount(totals.rejectedRequests), 'refused by the gateway', { value: totals.rejectedRequests })
  setKpi('kpi-balance', formatUsd(data.balance.balanceMicroUsd), `${formatUsd(data.balance.creditedMicroUsd)} credited`, { microUsd: data.balance.balanceMicroUsd })
  byTestId('kpi-balance').classList.toggle('negative', data.balance.balanceMicroUsd < 0)

  drawSpendPerDay(byTestId('chart-spend-per-day'), range.days, data.byDay.rows)
  const projectName = (id) => data.projects.find((p) => p.id === id)?.name ?? id
  const breakdown = (rows, label) => rows.filter((r) => r.costMicroUsd !== 0).map((r) => ({ label: label(r), microUsd: r.costMicroUsd }))
  drawBreakdown(byTestId('chart-by-project'), $('legend-project'), breakdown(data.byProject.rows, (r) => r.projectName ?? (r.projectId === null ? 'No project' : projectName(r.projectId))))
  drawBreakdown(byTestId('chart-by-key'), $('legend-key'), breakdown(data.byKey.rows, (r) => r.keyName ?? r.keyId ?? 'No key'))
  drawBreakdown(byTestId('chart-by-model'), $('legend-model'), breakdown(data.byModel.rows, (r) => r.model ?? 'Unknown model'))
  renderCache(totals)
  renderBudgets(data, projectName)
  renderAlerts(data, projectName)
}

function renderCache(totals) {
  const chart = byTestId('chart-cache')
  const items = [
    { label: 'Paid to providers', microUsd: totals.costMicroUsd },
    { label: 'Saved by the cache', microUsd: totals.cacheSavingsMicroUsd },
  ]
  drawBreakdown(chart, $('legend-cache'), items, [PALETTE[0], PALETTE[2]])
  chart.dataset.savingsMicroUsd = String(totals.cacheSavingsMicroUsd)
  chart.dataset.cacheHits = String(totals.cacheHits)
  $('cache-summary').textContent =
    `${formatCount(totals.cacheHits)} of ${formatCount(totals.requests)} requests answered from the cache ` +
    `(${percentOf(totals.cacheHits, totals.requests)}%), saving ${formatUsd(totals.cacheSavingsMicroUsd)}.`
}

/** 'Tenant', 'Project alpha', 'Key ci-bot' for a budget or rule scope. */
function scopeLabel(scope, projectName, keyNames) {
  if (scope === 'tenant') return 'Whole tenant'
  const [kind, id] = scope.split(':')
  return kind === 'project' ? `Project ${projectName(id)}` : `Key ${keyNames.get(id) ?? id}`
}

const keyNamesOf = (data) => new Map(data.byKey.rows.filter((r) => r.keyId !== null).map((r) => [r.keyId, r.keyName ?? r.keyId]))

function element(tag, className, text) {
  const el = document.createElement(tag)
  if (className !== undefined) el.className = className
  if (text !== undefined) el.textContent = text
  return el
}

function renderBudgets(data, projectName) {
  const keyNames = keyNamesOf(data)
  const list = byTestId('budgets')
  $('budgets-empty').hidden = data.budgets.length > 0
  list.replaceChildren(
    ...data.budgets.map((b) => {
      const li = element('li', 'budget')
      li.dataset.testid = 'budget'
      li.dataset.scope = b.scope
      li.dataset.period = b.period
      li.dataset.spentMicroUsd = String(b.spentMicroUsd)
      li.dataset.limitMicroUsd = String(b.limitMicroUsd)
      const used = percentOf(b.spentMicroUsd, b.limitMicroUsd)
      const head = element('div', 'budget-head')
      head.append(element('span', 'name', `${scopeLabel(b.scope, projectName, keyNames)} · per ${b.period}`), element('span', 'figures', `${formatUsd(b.spentMicroUsd)} of ${formatUsd(b.limitMicroUsd)}`))
      const bar = element('div', 'bar')
      bar.setAttribute('role', 'progressbar')
      bar.setAttribute('aria-valuemin', '0')
      bar.setAttribute('aria-valuemax', '100')
      bar.setAttribute('aria-valuenow', String(Math.min(used, 100)))
      const fill = element('div', used >= 100 ? 'fill over' : used >= 80 ? 'fill warn' : 'fill')
      // A style property set from script, which the CSP allows (it forbids style attributes in markup).
      fill.style.width = `${Math.min(used, 100)}%`
      bar.append(fill)
      li.append(head, bar, element('span', 'note', `${used}% used · ${formatUsd(b.remainingMicroUsd)} left`))
      return li
    }),
  )
}

const RULE_KINDS = {
  budget_percent: (t) => `${t}% of budget`,
  absolute_spend: (t) => `spend over ${formatUsd(t)}`,
  spend_rate: (t) => `spend rate over ${formatUsd(t)}/hour`,
}

function renderAlerts(data, projectName) {
  const keyNames = keyNamesOf(data)
  const rules = new Map(data.rules.map((r) => [r.id, r]))
  $('alerts-empty').hidden = data.alerts.length > 0
  byTestId('alerts').replaceChildren(
    ...data.alerts.map((a) => {
      const rule = rules.get(a.ruleId)
      const li = element('li', 'alert')
      li.dataset.testid = 'alert'
      li.dataset.ruleId = a.ruleId
      li.dataset.spentMicroUsd = String(a.spentMicroUsd)
      const what = rule === undefined ? `Rule ${a.ruleId}` : `${scopeLabel(rule.scope, projectName, keyNames)}: ${(RULE_KINDS[rule.kind] ?? String)(a.threshold)}`
      li.append(element('span', 'when', shortTime(a.firedAt)), element('span', 'what', what), element('span', 'spent', `${formatUsd(a.spentMicroUsd)} spent`))
      return li
    }),
  )
}

$('signin-form').addEventListener('submit', (event) => {
  // Never let the browser submit the form: the key must not reach a URL or a server log.
  event.preventDefault()
  const key = $('api-key').value.trim()
  if (key === '') return showSignIn('Enter an API key.')
  void signIn(key)
})
$('signout').addEventListener('click', () => showSignIn())
$('refresh').addEventListener('click', () => void refresh())
$('range').addEventListener('change', () => void refresh())

const stored = session.key()
if (stored === null) showSignIn()
else void signIn(stored)
