# ClusterClub node image. Config is mounted at /etc/clusterclub/config.toml.
FROM oven/bun:1.4.4-slim

WORKDIR /app
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile --production
COPY src ./src
COPY config.example.toml ./

# The image's unprivileged user; gossip and proxy ports are above 1024.
USER bun

# proxy (HTTP), gossip (UDP + TCP), admin API
EXPOSE 8080 7946/tcp 7946/udp 9901

HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["bun", "-e", "const r = await fetch('http://127.0.0.1:9901/health').catch(() => null); process.exit(r?.ok ? 0 : 1)"]

ENTRYPOINT ["bun", "run", "/app/src/main.ts"]
CMD ["/etc/clusterclub/config.toml"]
