# Lifeboat operator and agent image. Build: docker build -t lifeboat-operator .
# (No Docker engine runs on the development machines; the e2e environment runs the
# binaries directly. This file is what a cluster deployment builds.)
FROM debian:12-slim AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential pkg-config git ca-certificates \
        libcurl4-openssl-dev libssl-dev libjansson-dev libyaml-dev libwebsockets-dev \
        libpq-dev libxml2-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make clean && make -j"$(nproc)" all

FROM debian:12-slim
# Runtime libraries only; postgresql-client gives the agent pg_dump/pg_restore/psql.
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates tzdata libcurl4 libssl3 libjansson4 libyaml-0-2 libwebsockets17 \
        libpq5 libxml2 postgresql-client \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/bin/lifeboat-operator /src/bin/lifeboat-agent /usr/bin/
USER 65532:65532
ENTRYPOINT ["/usr/bin/lifeboat-operator"]
