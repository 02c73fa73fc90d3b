#!/bin/sh
# The image runs as the unprivileged user `bot` (the Dockerfile's USER). A platform volume may be mounted
# owned by root: then `bot` cannot create the databases, and this says so in one line instead of letting
# SQLite fail later. Started as root on purpose (docker run --user root), it hands the databases' directory
# and files to `bot`, then drops to it for good (setpriv, from util-linux, is in every Debian image).
# The files too: an image before the `bot` user ran as root and left root's 0644 databases on the volume.
set -eu
dirs=""
files=""
for db in "${CONVERSATION_LOG_DB:-/data/conversation_logs.db}" "${BOT_MEMORY_DB:-/data/bot_memory.db}"; do
    dirs="$dirs $(dirname "$db")"
    files="$files $db $db-wal $db-shm $db-journal"
done
if [ "$(id -u)" = "0" ]; then
    for dir in $dirs; do
        mkdir -p "$dir"
        chown bot:bot "$dir"
    done
    # -h: a link `bot` left on its volume changes hands itself, never the root-owned file it points at.
    for file in $files; do
        if [ -e "$file" ] || [ -L "$file" ]; then chown -h bot:bot "$file"; fi
    done
    exec setpriv --reuid=bot --regid=bot --init-groups --inh-caps=-all -- "$@"
fi
fix="chown the volume to $(id -u), or start the container once with --user root to hand it over"
for dir in $dirs; do
    mkdir -p "$dir" 2>/dev/null || true
    if [ ! -w "$dir" ]; then
        echo "docker-entrypoint: $dir is not writable by $(id -un) (uid $(id -u)): $fix" >&2
        exit 1
    fi
done
for file in $files; do
    if [ -e "$file" ] && [ ! -w "$file" ]; then
        echo "docker-entrypoint: $file is not writable by $(id -un) (uid $(id -u)): $fix" >&2
        exit 1
    fi
done
exec "$@"
