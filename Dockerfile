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
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SORA_METRICS_PORT', '9100'), timeout=4)"]
ENTRYPOINT ["sora-bot"]
CMD ["run"]
