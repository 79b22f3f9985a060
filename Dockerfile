# syntax=docker/dockerfile:1
# The Meridian image: `meridian gateway` (default), `meridian operator`, `meridian apiserver`.
# Node 24 runs the TypeScript sources directly (type stripping): there is no build step.

# Production dependencies only, installed from the lock file.
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# Install scripts stay off (npm 11's default): no dependency needs one at run time.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

FROM node:24-slim
ENV NODE_ENV=production \
    # Where the healthcheck asks; the operator's chart sets it to its /healthz (port 9090).
    MERIDIAN_HEALTH_URL=http://127.0.0.1:8080/healthz \
    # Node's compile cache, filled below: with every module found there, Node never loads its
    # TypeScript stripper (a WebAssembly module: ~15 MiB of resident memory for the process's
    # life, ~28 MiB for the operator's graph), and starts in about half the CPU time.
    NODE_COMPILE_CACHE=/app/.node-compile-cache
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY scripts ./scripts
COPY lib ./lib
COPY gateway ./gateway
COPY operator ./operator
COPY crds ./crds
COPY sandbox ./sandbox
RUN ln -s /app/bin/meridian.ts /usr/local/bin/meridian && mkdir -m 1777 "$NODE_COMPILE_CACHE"
# Node keeps the cache in a directory of its own per user id (…-<uid>), creates it on first use,
# and reads it even when it can no longer write (readOnlyRootFilesystem): so it is filled here for
# each uid the image runs as. `--help` loads a command's whole module graph (and writes the cache)
# without running it. 65532: the operator chart's runAsUser.
USER 65532:65532
RUN node bin/meridian.ts operator --help > /dev/null
# Not root: the uid the operator renders for gateway pods (runAsUser 10001).
USER 10001:10001
RUN for command in gateway operator apiserver; do node bin/meridian.ts "$command" --help > /dev/null; done
EXPOSE 8080 9091
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.MERIDIAN_HEALTH_URL).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["meridian"]
CMD ["gateway"]
