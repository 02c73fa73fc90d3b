# One machine runs everything: `python -m bot all` (the bot and Datasette under `litestream replicate -exec`).
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
ENV CONVERSATION_LOG_DB=/data/conversation_logs.db BOT_MEMORY_DB=/data/bot_memory.db PORT=8080
CMD ["python", "-m", "bot", "--env-file", "/dev/null", "all"]
