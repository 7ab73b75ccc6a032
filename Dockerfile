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
RUN useradd --system --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin edgecert \
    && mkdir /data \
    && chown edgecert:edgecert /data \
    && chmod 0700 /data
COPY --from=builder /usr/local/bin/edgecert /usr/local/bin/edgecert

# The default SQLite database and its master key file are created in the working directory.
WORKDIR /data
VOLUME ["/data"]
USER edgecert
ENV EDGECERT_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/edgecert"]
CMD ["serve"]
