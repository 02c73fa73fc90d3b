#!/bin/sh
# The image's processes run as the unprivileged user `bot`. A platform volume (Fly.io, Render) is mounted
# owned by root, so while still root this hands the databases' directory to `bot`, then drops to it for
# good (setpriv, from util-linux, is in every Debian image). Run as `bot` already (docker run --user), it
# only starts the command.
set -eu
if [ "$(id -u)" = "0" ]; then
    for db in "${CONVERSATION_LOG_DB:-/data/conversation_logs.db}" "${BOT_MEMORY_DB:-/data/bot_memory.db}"; do
        dir=$(dirname "$db")
        mkdir -p "$dir"
        chown bot:bot "$dir"
    done
    exec setpriv --reuid=bot --regid=bot --init-groups --inh-caps=-all -- "$@"
fi
exec "$@"
