# One machine runs everything: `python -m bot all` (the bot and Datasette under `litestream replicate -exec`).
# .dockerignore keeps .env, the databases, spools, .venv and .git out of the build context and so the image.
FROM python:3.11-slim
# uid 10001: no user of the host or of the base image has it.
RUN useradd --create-home --uid 10001 --user-group bot && mkdir -p /data && chown bot:bot /data
WORKDIR /app
COPY requirements.txt requirements.lock ./
# The runtime list at the lock's versions (make lock), as `make run` installs it: no test tools in the image.
RUN pip install --no-cache-dir -r requirements.txt --constraint requirements.lock
COPY . .
ENV CONVERSATION_LOG_DB=/data/conversation_logs.db BOT_MEMORY_DB=/data/bot_memory.db PORT=8080
# Every process runs as `bot`. A platform volume mounted owned by root: the entrypoint says so in one line
# (started as root, with `--user root`, it hands the volume to `bot` and drops to it; see the script).
USER bot
# Both processes, for real: Datasette answers on $PORT, and the bot's event loop touched its heartbeat
# within 90 s (bot/cli/health.py). start-period: `all` restores, migrates and starts Datasette first.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot", "--env-file", "/dev/null", "health"]
ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]
CMD ["python", "-m", "bot", "--env-file", "/dev/null", "all"]
