# sora-slack: one container runs the bot (Socket Mode by default).
#   docker build -t sora-slack .
#   docker run --env-file .env -v sora-data:/data sora-slack

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir --upgrade pip==25.3 \
 && pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SORA_DB_PATH=/data/sora-bot.db \
    SORA_METRICS_PORT=9100
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl \
 && rm -rf /wheels \
 && useradd --create-home --uid 10001 sora \
 && mkdir -p /data \
 && chown sora /data
USER 10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3000 9100
# Asks /healthz on SORA_METRICS_PORT, else on PORT in HTTP mode (see bot/healthcheck.py).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["sora-bot", "healthcheck"]
ENTRYPOINT ["sora-bot"]
CMD ["run"]
