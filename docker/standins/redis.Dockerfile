# Stand-in for the redis:7-alpine image where no image registry is reachable (these machines;
# see docker/README.md "Machines without an image registry"): Debian bookworm's redis-server
# 7.0, run as the `redis` user like the official image with `user: redis`, working directory
# /data. Built from the project root:
#
#   docker build --network host -f docker/standins/redis.Dockerfile \
#     -t local/redis:7 docker/standins

ARG BASE_IMAGE=local/debian:bookworm
FROM ${BASE_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data \
    && chown redis:redis /data

WORKDIR /data
USER redis
CMD ["redis-server"]
