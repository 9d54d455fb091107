/**
 * Chart.js (its UMD build, loaded before this module, puts `Chart` on the window) drawn into
 * `.chart` containers. After a chart has drawn its last animation frame the container says so
 * (`data-rendered="true"`) and carries the numbers it drew: `data-total-micro-usd` and `data-series`
 * (JSON `[{label, microUsd}]`), for people's tools and for the browser test.
 */
import { formatUsd, sharePercent, shortDay, sumMicro, usdForDrawing } from './format.js'

const { Chart } = globalThis

export const PALETTE = ['#4f46e5', '#0ea5e9', '#10b981', '#f59e0b', '#ec4899', '#8b5cf6', '#14b8a6', '#ef4444']
const OTHER_COLOUR = '#94a3b8'
/** A doughnut with more slices than this lumps the smallest into one 'Other' slice. */
const MAX_SLICES = 7

Chart.defaults.font.family = getComputedStyle(document.body).fontFamily
Chart.defaults.color = '#475569'
Chart.defaults.plugins.legend.display = false

/** Marks the container once the chart's animation has finished: afterRender runs then, and not before. */
const renderedPlugin = {
  id: 'supergateRendered',
  afterRender(chart) {
    chart.canvas.parentElement.dataset.rendered = 'true'
  },
}

const charts = new Map()

function replaceChart(container, config, series) {
  charts.get(container)?.destroy()
  const total = sumMicro(series.map((s) => s.microUsd))
  container.dataset.rendered = 'false'
  container.dataset.totalMicroUsd = String(total)
  container.dataset.series = JSON.stringify(series)
  container.dataset.empty = String(total === 0)
  const canvas = container.querySelector('canvas')
  charts.set(container, new Chart(canvas, { ...config, plugins: [renderedPlugin] }))
  return total
}

/** Axis labels in dollars; the axis is drawn from floats, so these are the only float-derived figures shown. */
function usdTick(value) {
  const digits = value !== 0 && Math.abs(value) < 0.01 ? { maximumSignificantDigits: 2 } : { maximumFractionDigits: 2 }
  return new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', ...digits }).format(value)
}

/** Spend per day as bars, one per day of the range (days without spend draw as zero). */
export function drawSpendPerDay(container, days, rows) {
  const byDay = new Map(rows.map((r) => [r.day, r.costMicroUsd]))
  const series = days.map((day) => ({ label: day, microUsd: byDay.get(day) ?? 0 }))
  return replaceChart(
    container,
    {
      type: 'bar',
      data: {
        labels: days.map(shortDay),
        datasets: [{ label: 'Spend', data: series.map((s) => usdForDrawing(s.microUsd)), backgroundColor: PALETTE[0], borderRadius: 4, maxBarThickness: 36 }],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { grid: { display: false } },
          y: { beginAtZero: true, ticks: { callback: usdTick }, grid: { color: '#e2e8f0' } },
        },
        plugins: { tooltip: { callbacks: { label: (item) => ` ${formatUsd(series[item.dataIndex].microUsd)}` } } },
      },
    },
    series,
  )
}

/** The biggest slices by amount, the rest as one 'Other' slice. */
function slices(items) {
  const sorted = [...items].sort((a, b) => b.microUsd - a.microUsd)
  if (sorted.length <= MAX_SLICES) return sorted
  const rest = sorted.slice(MAX_SLICES - 1)
  return [...sorted.slice(0, MAX_SLICES - 1), { label: `Other (${rest.length})`, microUsd: sumMicro(rest.map((r) => r.microUsd)), other: true }]
}

/**
 * A doughnut of amounts by name, with an HTML legend (name, amount, share) that a person can read and
 * select: the canvas alone is not text.
 */
export function drawBreakdown(container, legend, items, colours = PALETTE) {
  const shown = slices(items).map((s, i) => ({ ...s, colour: s.other === true ? OTHER_COLOUR : colours[i % colours.length] }))
  const series = shown.map(({ label, microUsd }) => ({ label, microUsd }))
  const total = sumMicro(series.map((s) => s.microUsd))
  replaceChart(
    container,
    {
      type: 'doughnut',
      data: {
        labels: shown.map((s) => s.label),
        datasets: [{ data: shown.map((s) => usdForDrawing(s.microUsd)), backgroundColor: shown.map((s) => s.colour), borderColor: '#fff', borderWidth: 2 }],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        cutout: '62%',
        plugins: {
          tooltip: {
            callbacks: { label: (item) => ` ${formatUsd(shown[item.dataIndex].microUsd)} (${sharePercent(shown[item.dataIndex].microUsd, total)}%)` },
          },
        },
      },
    },
    series,
  )
  legend.replaceChildren(
    ...shown.map((s) => {
      const li = document.createElement('li')
      li.dataset.label = s.label
      li.dataset.microUsd = String(s.microUsd)
      const swatch = document.createElement('span')
      swatch.className = 'swatch'
      swatch.style.backgroundColor = s.colour
      const name = document.createElement('span')
      name.className = 'name'
      name.textContent = s.label
      name.title = s.label
      const amount = document.createElement('span')
      amount.className = 'amount'
      amount.textContent = formatUsd(s.microUsd)
      const share = document.createElement('span')
      share.className = 'share'
      share.textContent = `${sharePercent(s.microUsd, total)}%`
      li.append(swatch, name, amount, share)
      return li
    }),
  )
  return total
}
