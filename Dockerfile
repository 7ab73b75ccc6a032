FROM rust:1-bookworm AS builder
WORKDIR /build

# Dependencies change far less often than the code: build them against placeholder sources
# so this layer stays cached until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

COPY src ./src
# sqlx::migrate! embeds the migrations into the binary at compile time.
COPY migrations ./migrations
# COPY keeps the build context's timestamps, which can be older than the placeholder build:
# touching the crate roots makes cargo rebuild edgecert itself.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && install -m 0755 target/release/edgecert /usr/local/bin/edgecert

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A fixed uid/gid (10001), so files mounted into the container (the master key secret, trust
# roots) can be made readable to it: chown 10001 FILE.
RUN groupadd --system --gid 10001 edgecert \
    && useradd --system --uid 10001 --gid edgecert --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin edgecert \
    && mkdir /data \
    && chown edgecert:edgecert /data \
    && chmod 0700 /data
COPY --from=builder /usr/local/bin/edgecert /usr/local/bin/edgecert

# The default SQLite database and its master key file are created in the working directory.
WORKDIR /data
VOLUME ["/data"]
USER edgecert
# Inside a container the published port is the only way in, so listen on every interface.
ENV EDGECERT_LISTEN=0.0.0.0:8080
# `docker stop` sends SIGKILL 10 s after SIGTERM: draining must end before that (the binary's
# own default is 30 s). Raise both together (docker stop -t, compose stop_grace_period).
ENV EDGECERT_SHUTDOWN_GRACE=8
EXPOSE 8080
# The image has no curl: edgecert probes its own GET /readyz on EDGECERT_LISTEN.
HEALTHCHECK --interval=10s --timeout=10s --start-period=30s --retries=3 CMD ["/usr/local/bin/edgecert", "probe"]
# Exec form: edgecert itself receives SIGTERM and shuts down gracefully.
ENTRYPOINT ["/usr/local/bin/edgecert"]
CMD ["serve"]
