# syntax=docker/dockerfile:1
# Build: compile TypeScript and the native SQLite addon.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Run: the same server as `npm start`, as an unprivileged user, state in /storage.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PYDEPOT_LISTEN=0.0.0.0:8080 \
    PYDEPOT_STORAGE=/storage
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
RUN mkdir -p /storage && chown node:node /storage
USER node
VOLUME ["/storage"]
EXPOSE 8080
# With `tls` set, pass -e PYDEPOT_HEALTH_URL=https://127.0.0.1:8080/-/ready. The probe does not check the
# certificate: it is issued for the public name, and the probe only asks whether pydepot is ready.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const u=process.env.PYDEPOT_HEALTH_URL||'http://127.0.0.1:8080/-/ready';require(u.startsWith('https:')?'node:https':'node:http').get(u,{rejectUnauthorized:false,timeout:4000},(r)=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"]
# Mount your own config over /app/config/default.yaml, or pass --config.
ENTRYPOINT ["node", "dist/main.js"]
CMD ["serve", "--config", "config/default.yaml"]
