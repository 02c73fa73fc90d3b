"""Replicas for the tests: a directory (file://), a real SFTP server on 127.0.0.1 (asyncssh), and
an S3 API on 127.0.0.1 (moto's server, which answers the S3 REST protocol as AWS does).

The SFTP server runs its own event loop on a thread, so a test may block on the real `litestream`
binary while the server answers it; it can be stopped and started again on the same port to cut
the replica off and bring it back.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from pathlib import Path

import asyncssh

from bot.config.settings import Settings
from bot.replica import litestream as replication
from bot.store import Exchange
from bot.store.sqlite import sqlite3
from tests.support.processes import closed_port

SFTP_USER = "backup"
SFTP_PASSWORD = "replica-secret-1"


class SFTPServer:
    def __init__(self, root: Path):
        self.root = root
        self.port = closed_port()
        self.logins = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._key = asyncssh.generate_private_key("ssh-ed25519")
        self._server = None
        self._connections: set = set()

    def start(self) -> SFTPServer:
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _start(self) -> None:
        server = self

        class Auth(asyncssh.SSHServer):
            def connection_made(self, conn) -> None:
                server._connections.add(conn)

            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                server.logins += 1
                return username == SFTP_USER and password == SFTP_PASSWORD

        self._server = await asyncssh.create_server(
            Auth,
            "127.0.0.1",
            self.port,
            server_host_keys=[self._key],
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(self.root)),
        )

    async def _stop(self) -> None:
        for conn in self._connections:  # an outage cuts the sessions too, not only the listener
            conn.close()
        self._connections.clear()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def host_key(self) -> str:
        """The public key as an authorized_keys line, for LITESTREAM_SFTP_HOST_KEY."""
        return self._key.export_public_key("openssh").decode().strip()

    @property
    def url(self) -> str:
        return f"sftp://{SFTP_USER}@127.0.0.1:{self.port}/replica"


class S3Server:
    """moto's S3 server on a free port, with one empty bucket; any key pair is accepted."""

    bucket = "bot-replica"
    key_id, secret = "test-key-id", "test-secret-key"
    region = "us-east-1"

    def __init__(self):
        from moto.server import ThreadedMotoServer  # a test requirement only

        self.port = closed_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> S3Server:
        import boto3

        self._server.start()
        boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
            region_name=self.region,
        ).create_bucket(Bucket=self.bucket)
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, bucket: str | None = None) -> dict[str, str]:
        """The settings a deployment on an S3-compatible store (R2, MinIO, B2) would set."""
        return {
            "LITESTREAM_REPLICA_URL": f"s3://{bucket or self.bucket}/bot",
            "LITESTREAM_ENDPOINT": self.endpoint,
            "LITESTREAM_REGION": self.region,
            "LITESTREAM_ACCESS_KEY_ID": self.key_id,
            "LITESTREAM_SECRET_ACCESS_KEY": self.secret,
        }


def replicated_settings(tmp_path: Path, url: str, **env: str) -> Settings:
    """Settings for a log in tmp_path/data replicated to `url`, through Settings.from_env itself."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    return Settings.from_env(
        {
            "CONVERSATION_LOG_DB": str(data / "conversation_logs.db"),
            "BOT_MEMORY_DB": str(data / "bot_memory.db"),
            "LITESTREAM_REPLICA_URL": url,
            **env,
        },
        dotenv_path=None,
    )


def with_password(settings: Settings, password: str = SFTP_PASSWORD, host_key: str | None = None) -> Settings:
    return replace(settings, replica=replace(settings.replica, sftp_password=password, sftp_host_key=host_key))


def poll(check, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Call `check` until it returns something true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:g} s")
        time.sleep(interval)


def replica_exchange(n: int, user: str = "alice", text: str = "") -> Exchange:
    return Exchange(
        user_id=user,
        user_name=user,
        channel_id="c1",
        user_message=text or f"message {n}",
        bot_response=f"reply {n}",
        model_used="m",
        message_id=f"{user}-{n}",
    )


def message_ids(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("select message_id from conversations order by id")]


def in_sync(settings: Settings) -> bool:
    return replication.lag(settings).waiting_seconds == 0 and replication.lag(settings).txid is not None
