"""An LL-HLS client for the tests: follows a media playlist the way
hls.js does in low-latency mode (a blocking reload for the part after the
newest, the hinted part asked for before it exists), checks every
playlist it is given (hlscheck.PlaylistChecker) and keeps what it
fetched."""

import hashlib
import http.client
import threading
import time

from hlscheck import PlaylistChecker, PlaylistError


class Fetched:
    __slots__ = ("uri", "status", "headers", "sha", "size", "asked",
                 "answered")


class HlsFollower(threading.Thread):
    """Follows host:port/path (a playlist) until stopped.

    playlists: (monotonic time answered, Playlist, (msn, part) asked)
    parts:     uri -> Fetched (the bytes' SHA-256)
    errors:    what went wrong, as text (a playlist the checker refused
               is one)
    """

    def __init__(self, port, path="/hls.m3u8", host="127.0.0.1",
                 checker=None, fetch_parts=True, timeout=10):
        super().__init__(daemon=True)
        self.host, self.port, self.path = host, port, path
        self.base = path.rsplit("/", 1)[0] + "/"
        self.checker = checker or PlaylistChecker()
        self.fetch_parts = fetch_parts
        self.timeout = timeout
        self.playlists = []
        self.parts = {}
        self.errors = []
        self.lock = threading.Lock()
        self._halt = threading.Event()
        self._conn = None

    def stop(self):
        self._halt.set()
        self.join(15)

    def _get(self, path):
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request("GET", path)
                r = self._conn.getresponse()
                return r.status, dict(r.getheaders()), r.read()
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt or self._halt.is_set():
                    raise
        raise AssertionError("unreachable")

    def count(self):
        with self.lock:
            return len(self.playlists)

    def _playlist(self, msn=None, part=None):
        path = self.path
        if msn is not None:
            path += "?_HLS_msn=%d&_HLS_part=%d" % (msn, part)
        asked = time.monotonic()
        status, headers, body = self._get(path)
        if status != 200:
            raise PlaylistError("%s: HTTP %d %r" % (path, status, body[:200]))
        pl = self.checker.check(body.decode(), msn=msn, part=part)
        with self.lock:
            self.playlists.append((time.monotonic(), pl, (msn, part),
                                   asked, headers))
        return pl

    def _fetch(self, uri):
        if uri in self.parts:
            return
        f = Fetched()
        f.uri = uri
        f.asked = time.monotonic()
        f.status, f.headers, body = self._get(self.base + uri)
        f.answered = time.monotonic()
        f.sha = hashlib.sha256(body).hexdigest()
        f.size = len(body)
        with self.lock:
            self.parts[uri] = f
        if f.status != 200:
            raise PlaylistError("%s: HTTP %d" % (uri, f.status))

    def run(self):
        try:
            pl = self._playlist()
            while not self._halt.is_set():
                if self.fetch_parts:
                    for s in pl.segments[-2:]:
                        for p in s.parts:
                            self._fetch(p.uri)
                # The part after the newest one listed (6.2.5.2).
                last = pl.segments[-1]
                if last.uri is None:
                    msn, part = last.msn, len(last.parts)
                else:
                    msn, part = last.msn + 1, 0
                pl = self._playlist(msn, part)
        except Exception as e:  # noqa: BLE001 - reported to the test
            if not self._halt.is_set():
                with self.lock:
                    self.errors.append(repr(e))
        finally:
            if self._conn is not None:
                self._conn.close()
