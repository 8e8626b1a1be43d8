# Multi-stage Debian 12 build. The runtime image is slim, runs as non-root (65532) and
# works with a read-only root filesystem (state under /var/lib/keygate, scratch in /tmp).
#   docker build -t keygate:0.1.0 .
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build --target keygate \
 && strip /build/src/cmd/keygate

FROM debian:bookworm-slim
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      ca-certificates libcpprest2.10 libssl3 libyaml-cpp0.7 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 softhsm2 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/keygate && chown 65532:65532 /var/lib/keygate
COPY --from=build /build/src/cmd/keygate /usr/local/bin/keygate
COPY crds /usr/share/keygate/crds
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/keygate"]
CMD ["operator", "--config", "/etc/keygate/config.yaml"]
