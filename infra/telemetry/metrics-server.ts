import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { MetricsEndpoint } from './metrics.ts'

/**
 * `/metrics` on a port of its own (SUPERGATE_METRICS_PORT): the per-tenant figures are then reachable only where
 * the scraper is (a port a Kubernetes Service does not forward), not by every API client of the main port.
 */
export async function startMetricsServer(metrics: MetricsEndpoint, options: { port: number; host: string }): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?', 1)[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"Only GET /metrics is served on this port","type":"invalid_request_error","param":null,"code":"route_not_found"}}')
      return
    }
    metrics.metrics().then(
      (text) => response.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, resolve)
  })
  return server
}
