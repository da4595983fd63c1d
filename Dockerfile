# icepeak-rs as a static binary in an empty image.
#
#   docker build -t icepeak-rs .
#   docker run -p 3000:3000 -p 9090:9090 -v icepeak-data:/data icepeak-rs
#
# Health check: `scratch` has no shell or curl, so HEALTHCHECK cannot run a probe inside the
# container. Probe from outside instead: GET http://<container>:9090/healthcheck answers 200
# (Kubernetes: an httpGet liveness probe on port 9090, path /healthcheck).

FROM rust:1-bookworm AS build
RUN rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin icepeak \
    && mkdir -p /data \
    && chown 10001:10001 /data

FROM scratch
COPY --from=build /src/target/x86_64-unknown-linux-musl/release/icepeak /icepeak
# The data directory, owned by the unprivileged user the server runs as.
COPY --from=build --chown=10001:10001 /data /data
USER 10001:10001
VOLUME ["/data"]
EXPOSE 3000 9090
ENTRYPOINT ["/icepeak", "--data-file", "/data/icepeak.json", "--metrics", "0.0.0.0:9090"]
