# saasmetrics: multi-stage build on Debian 12. The build stage runs the same scripts as
# the README and CI (deploy/install-deps.sh, CMake), so CI exercises every step of it.
# The gateway embeds the web dashboard, bundled here by Node.js and npm (npm ci from
# deploy/dashboard/package-lock.json, without the browser test's dev packages).
FROM debian:bookworm AS build
WORKDIR /src
COPY deploy/install-deps.sh deploy/install-deps.sh
RUN deploy/install-deps.sh image && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
 && cmake --build build --target saasmetrics saasctl gateway

FROM debian:bookworm-slim AS runtime
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates libabsl20220623 libgrpc++1.51 libgrpc29 libprotobuf32 libpqxx-6.4 libpq5 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libcivetweb1 libsodium23 tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 saasmetrics \
 && useradd --system --uid 10001 --gid 10001 --no-create-home saasmetrics
COPY --from=build /src/build/bin/saasmetrics /src/build/bin/saasctl \
                  /src/build/bin/saasmetrics-gateway /usr/local/bin/
USER 10001:10001
EXPOSE 50051 9464
# The image's own client checks gRPC health (no grpc-health-probe in Debian).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/saasctl", "--address=127.0.0.1:50051", "--timeout=2s", "health"]
ENTRYPOINT ["/usr/local/bin/saasmetrics"]
CMD ["--grpc_address=0.0.0.0:50051", "--metrics_address=0.0.0.0:9464"]
