# syntax=docker/dockerfile:1
#
# mirrorflow container image.
#
#   docker build -t mirrorflow:local .
#   docker run --rm mirrorflow:local replay /opt/mirrorflow/fixtures/demo
#
# Stage 1 builds the release binary; stage 2 is a slim Debian runtime with only the
# binary, the demo ledger and the config files. The BuildKit cache mounts keep the cargo
# registry and target/ between builds (a workspace whose product crate has a lib and a bin: no cheap
# "dependencies only" layer, so the cache mounts do that job).

# At least Cargo.toml's rust-version (DataFusion 55 needs 1.94); the test suite checks it.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
# .dockerignore keeps target/, .git/, outputs and local databases out of the context.
COPY . .
# rusqlite's `bundled` feature compiles SQLite with cc (gcc is in the rust image);
# the PostgreSQL client is pure Rust without TLS, so no OpenSSL is needed.
# target/ is a cache mount (not in the image), so the binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin mirrorflow \
 && install -D -m 0755 target/release/mirrorflow /out/mirrorflow

FROM debian:bookworm-slim AS runtime
# ca-certificates: for TLS to anything outside (nothing needs a compiler or OpenSSL at run time).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# A fixed non-root uid/gid so volume ownership is predictable across hosts.
RUN groupadd --system --gid 10001 mirrorflow \
 && useradd --system --uid 10001 --gid 10001 --home-dir /opt/mirrorflow --no-create-home \
        --shell /usr/sbin/nologin mirrorflow
COPY --from=builder /out/mirrorflow /usr/local/bin/mirrorflow
# Read-only assets, owned by root: the demo ledger and the configs (default.toml, amlsim.toml,
# compose.toml for docker-compose.yml).
COPY fixtures/demo /opt/mirrorflow/fixtures/demo
COPY config /opt/mirrorflow/config
# Mount points for the live input directory and the outputs. Created here, owned by the
# runtime user, so that fresh named volumes mounted on them inherit that ownership.
RUN mkdir -p /data/incoming /data/out \
 && chown -R mirrorflow:mirrorflow /data
WORKDIR /opt/mirrorflow
# The binary allocates through jemalloc; librdkafka (C) still uses glibc's malloc, kept
# to 2 arenas.
ENV MALLOC_ARENA_MAX=2
USER mirrorflow:mirrorflow
# 8080: `mirrorflow serve` (review API + its /metrics); 9464: a job's --metrics-addr.
EXPOSE 8080 9464
# mirrorflow stops cleanly on SIGTERM (docker stop) and SIGINT: a job flushes what it read
# and closes the store, the review API drains its requests.
STOPSIGNAL SIGTERM
ENTRYPOINT ["mirrorflow"]
CMD ["--help"]
