# syntax=docker/dockerfile:1
#
# The image runs the compiled server (dist/, from `npm run compile`) with NODE_ENV=production,
# the way the bench measures it: less memory and CPU than compiling TypeScript at start.
#
#   docker build -t llmring-server .
#   docker run -p 4000:4000 -v llmring-data:/data llmring-server            # embedded database
#   docker run -p 4000:4000 -e DATABASE_URL=postgres://... llmring-server   # PostgreSQL
#   docker run --rm --init -e DATABASE_URL=postgres://... llmring-server status   # any CLI command
#
# See docs/operations.md for every setting.

ARG NODE_IMAGE=node:20-bookworm-slim

# Stage 1: compile the TypeScript sources into dist/ (this needs the dev dependencies).
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run compile

# Stage 2: production dependencies only, exactly as package-lock.json pins them.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Stage 3: the runtime image: compiled code and dependencies, no npm cache, an unprivileged user.
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    LLMRING_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    LLMRING_DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# .dockerignore lets only what the server needs into the build context.
COPY . .
COPY --from=build /app/dist ./dist
RUN ln -s /app/bin/llmring-server.js /usr/local/bin/llmring-server \
    && mkdir -p /data \
    && chown node:node /data
# The files under /app stay root's: the server cannot change its own code.
USER node
# The embedded database (used when DATABASE_URL is not set) lives here.
VOLUME ["/data"]
EXPOSE 4000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node as PID 1 handles SIGTERM for `serve` (graceful shutdown); run with --init (compose:
# init: true) so Ctrl-C also reaches one-off CLI commands.
ENTRYPOINT ["node", "/app/bin/llmring-server.js"]
CMD ["serve"]
