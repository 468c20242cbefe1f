# Stand-in for the pgvector/pgvector:pg17 image where no image registry is reachable (these
# machines; see docker/README.md "Machines without an image registry"): Debian trixie's
# PostgreSQL 17 and its pgvector package (0.8, HNSW indexes need 0.5 or later), started the way
# the official image starts: POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB create the
# superuser and the database on first start, data in /var/lib/postgresql/data, and
# `postgres -c ...` as the command passes options to the server. Built from the project root:
#
#   docker build --network host -f docker/standins/postgres.Dockerfile \
#     -t local/pgvector:pg17 docker/standins

ARG BASE_IMAGE=local/debian:trixie
FROM ${BASE_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive \
    PATH=/usr/lib/postgresql/17/bin:$PATH \
    PGDATA=/var/lib/postgresql/data

# Debian's package would create and start a cluster of its own; only the programs are used.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-common \
    && sed -i 's/^#\?create_main_cluster.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf \
    && apt-get install -y --no-install-recommends postgresql-17 postgresql-17-pgvector \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p "$PGDATA" /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
    && chmod 700 "$PGDATA"

COPY --chmod=755 postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh

USER postgres
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
