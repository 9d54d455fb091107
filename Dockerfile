# syntax=docker/dockerfile:1
# Supergate as a container: `docker build -t supergate .`, then `docker run supergate <role>`, role one of
# all (the default: everything in one process), gateway, projections, sink. Settings are SUPERGATE_*
# environment variables (README, "Configuration"). Node 24 runs the .ts sources itself (type stripping):
# there is no build step, and nothing in devDependencies is needed at run time.
#
# --build-arg WITH_CHDB=false leaves out chdb's native library (about 540 MB): an image that only ever talks
# to a ClickHouse server (SUPERGATE_CLICKHOUSE_URL set, as every split deployment must) does not need it.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
ARG WITH_CHDB=true
WORKDIR /app
COPY package.json package-lock.json ./
# `npm install`, not `npm ci`: the lockfile lacks chdb's optional native packages for other platforms and
# `npm ci` refuses it (README, "Run the gateway"); `npm install` still installs the locked versions.
# --ignore-scripts: the only install scripts among the runtime packages (chdb, protobufjs) do nothing needed.
RUN npm install --omit=dev --ignore-scripts --no-audit --no-fund \
 && if [ "$WITH_CHDB" = "false" ]; then rm -rf node_modules/@chdb; fi \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    SUPERGATE_HOST=0.0.0.0 \
    SUPERGATE_PORT=8080 \
    SUPERGATE_DATA_DIR=/var/lib/supergate
WORKDIR /app
# Code and modules stay owned by root: the process (user node) can read them, not change them. It writes only
# under SUPERGATE_DATA_DIR: the event spool, and embedded PGlite/chdb when no server is configured.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY gateway ./gateway
COPY events ./events
COPY projections ./projections
COPY analytics ./analytics
COPY infra ./infra
RUN mkdir -p /var/lib/supergate && chown node:node /var/lib/supergate
USER node
EXPOSE 8080
# /ready answers 200 while the process can serve (`degraded` included: Kafka, Redis or ClickHouse away), 503
# while PostgreSQL is down or while draining. fetch, not curl: the slim image has no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.SUPERGATE_PORT || 8080) + '/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "gateway/main.ts"]
CMD ["all"]
