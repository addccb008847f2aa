# The Vigil node: `docker build -t vigil:local .`, or `docker compose up` (docker-compose.yml runs
# three of them; docs/docker.md). Plain Dockerfile syntax, so that both BuildKit and the classic
# builder (what docker-compose 1.29 uses) build it.

# ---- deps: the production dependencies alone (a stage of its own: BuildKit runs it beside build) ----
FROM node:20-bookworm-slim AS deps
WORKDIR /src
# Every workspace's manifest (npm ci wants them all; a new package under packages/ adds a line
# here and in the build stage), and only the manifests: this layer is rebuilt when they change.
COPY package.json package-lock.json ./
COPY packages/raft/package.json packages/raft/
COPY packages/sim/package.json packages/sim/
COPY packages/store/package.json packages/store/
COPY packages/protocol/package.json packages/protocol/
COPY packages/server/package.json packages/server/
COPY packages/client/package.json packages/client/
COPY packages/cli/package.json packages/cli/
# --ignore-scripts: the root's `prepare` (tsc -b) needs the sources; the native addons
# (classic-level, msgpackr-extract) load the prebuilt binaries their packages ship. The simulator
# is not part of the image.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -f node_modules/@vigil/sim

# ---- build: the workspace compiled from source ----
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY packages/raft/package.json packages/raft/
COPY packages/sim/package.json packages/sim/
COPY packages/store/package.json packages/store/
COPY packages/protocol/package.json packages/protocol/
COPY packages/server/package.json packages/server/
COPY packages/client/package.json packages/client/
COPY packages/cli/package.json packages/cli/
RUN npm ci --ignore-scripts --no-audit --no-fund
# The sources (.dockerignore keeps tests, dist/ and node_modules out).
COPY tsconfig.base.json tsconfig.json ./
COPY packages ./packages
COPY scripts/docker/healthcheck.js ./scripts/docker/
# The packages the node runs (the CLI and what it imports), each as its manifest and compiled
# JavaScript only (no types, maps or sources); the CLI's bin/; the healthcheck.
RUN npx tsc -b packages/cli \
 && mkdir -p /out/packages \
 && cp package.json scripts/docker/healthcheck.js /out/ \
 && for p in raft store protocol server client cli; do \
      mkdir -p "/out/packages/$p" && cp -a "packages/$p/package.json" "packages/$p/dist" "/out/packages/$p/"; \
    done \
 && cp -a packages/cli/bin /out/packages/cli/ \
 && find /out/packages \( -name '*.map' -o -name '*.d.ts' \) -exec rm -f {} +

# ---- runtime ----
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    VIGIL_DATA_DIR=/var/lib/vigil \
    VIGIL_CLIENT_LISTEN=0.0.0.0:8181 \
    VIGIL_PEER_LISTEN=0.0.0.0:8281
# The code belongs to root and is read-only for the node; only the data directory is its own.
COPY --from=deps /src/node_modules /app/node_modules
COPY --from=build /out /app
RUN ln -s /app/packages/cli/bin/vigil.js /usr/local/bin/vigil \
 && mkdir -p /var/lib/vigil \
 && chown node:node /var/lib/vigil
WORKDIR /var/lib/vigil
USER node
VOLUME ["/var/lib/vigil"]
# Client port (WebSocket clients, admin and JSON HTTP APIs) and peer port (Raft).
EXPOSE 8181 8281

# Healthy once /readyz answers 200: a leader is known and the node has applied what was
# committed when it started. Node's own fetch: the slim base image has no curl or wget.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 CMD ["node", "/app/healthcheck.js"]

# node is PID 1, with no shell or init in between: `docker stop` sends SIGTERM straight to it, and
# vigil handles it (a leader hands leadership over, then the node closes in order and exits 0)
# within --shutdown-timeout-ms + 1 s, by default 6 s, inside Docker's 10 s grace. A second signal
# exits at once. vigil starts no child processes, so there are no zombies to reap.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/packages/cli/bin/vigil.js"]
CMD ["server"]
