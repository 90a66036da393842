"""A team on one server: investigators uploading probes and searching, while reviewers,
supervisors and auditors browse. Loopback only; a bounded asyncio client of its own.

    .venv/bin/python bench/load.py --users 10 25 50 --seconds 20

Runs, in one go, against the same gallery (the fixture's 20 photos of 10 people, with the
server tests' accounts):

- ``sqlite-1proc-1analysis``: SQLite, one server process, one probe analysis at a time
  (``--probe-workers 1``: what the server did before requests ran in parallel);
- ``sqlite-1proc``: SQLite, one server process, an analysis process per core;
- ``postgresql-2workers``: PostgreSQL (a server the script starts), ``--workers 2``.

Each simulated user is a person: after each answer it waits a think time (``--think``,
1 s by default, drawn evenly from half to one and a half times it) before its next request.
Investigators (60%) upload a 1-megapixel probe, search it, and start again; the others read
pages and API lists. With no think time (``--think 0``) every reader becomes a client that
asks again the moment it is answered: by Little's law 20 of them keep 20 requests queued,
so their latency measures the queue they make themselves, not what a person waits.

Each simulated user keeps one HTTP/1.1 connection, as a browser does, and speaks it through
``LoopbackClient``, a few dozen lines over asyncio streams with each request's bytes built
once. The client runs on the same two cores as the server it measures: with httpx it cost
8-9 ms of a core a search (three requests), a fifth as much as the server's own work; now
about 2.

Every setting's server is started (and warmed up) first; then, level by level, each is
measured in turn, ``--rounds`` times (A B C A B C), and its rounds are reported together.
On a shared host the machine's speed drifts by 10-20% over minutes (the same analysis
costs 103 ms of CPU in one minute and 126 in another): settings measured one after the
other for minutes each compared the drift as much as the settings.

Reports requests/s and p50/p99 per kind of request, errors (any non-2xx, or no answer)
and 5xx, per setting and number of users, and (on stderr) the machine's load average
after each level. A short unmeasured warm-up first starts each server's probe analysis
processes.

Then the searches/s against one analysis at a time, over the whole level and in its
steady part (every user arrived, none gone), and what each setting could at most have
gained from the CPU it used a search in that steady part: ``cores / (analysis + server +
client)`` searches a second against the baseline's rate, and the same with a server and a
client that cost nothing, the machine's ceiling at this analysis. A gain short of the
first bound is lost to idle cores; a first bound short of the target, to the server's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from tests.browser_support import LiveServer, start_server  # noqa: E402
from tests.postgres import start_postgres  # noqa: E402
from tests.server_world import PROBE, World, build_world  # noqa: E402

INVESTIGATORS = ("ivan", "iris", "ivy")
READERS = {  # who reads what
    "rita": ("/api/reviews/queue", "/reviews", "/api/me"),
    "rory": ("/api/reviews/queue", "/reviews", "/api/me"),
    "sam": ("/api/searches", "/activity", "/api/cases"),
    "audrey": ("/api/audit?limit=50", "/audit", "/api/stats"),
}
INVESTIGATOR_SHARE = 0.6
PURPOSE = "identify the suspect in an armed robbery of a pharmacy"  # each investigator's case
LISTS = {"/api/reviews/queue", "/api/searches", "/api/cases"}  # their sizes are reported
# Seconds after the last user arrives (they arrive over one think time) before the steady
# part of a round: each has opened its case and sent its first photo by then.
SETTLE_S = 1.0


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    by_path: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    sizes: dict[str, int] = field(default_factory=dict)  # items in a list's last answer
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    server_errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    refused: set[str] = field(default_factory=set)  # what answered an error, to say so
    elapsed: float = 0.0  # seconds measured, over every round
    # The steady part of each round: every user has arrived and none has left yet.
    window: tuple[float, float] = (0.0, 0.0)  # this round's, monotonic
    steady_searches: int = 0
    steady_seconds: float = 0.0
    steady_cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def record(self, kind: str, started: float, status: int | None) -> None:
        now = time.monotonic()
        self.latencies[kind].append(now - started)
        if kind == "search" and status == 201 and self.window[0] <= now <= self.window[1]:
            self.steady_searches += 1
        if status is None or not 200 <= status < 300:
            self.errors[kind] += 1
        if status is not None and status >= 500:
            self.server_errors[kind] += 1


def probe_photo() -> bytes:
    """The fixture probe at 1 megapixel, as an uploaded photo would be."""
    buffer = io.BytesIO()
    Image.open(PROBE).convert("RGB").resize((1000, 1000)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@dataclass
class Answer:
    status_code: int
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self):
        return json.loads(self.content)


class LoopbackClient:
    """One simulated user's keep-alive HTTP/1.1 connection. httpx spent 2-3 ms of a core on
    each request, on the cores the server is measured on; this spends a tenth of that."""

    def __init__(self, base_url: str, headers: dict[str, str]):
        parts = urlsplit(base_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        fixed = {"Host": f"{self._host}:{self._port}", **headers}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str | None = None
    ) -> Answer:
        head = f"{method} {path} HTTP/1.1\r\n{self._fixed}"
        if body or method in ("POST", "PUT", "PATCH"):
            head += f"Content-Length: {len(body)}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._streams
        try:
            writer.write(head.encode("latin-1") + b"\r\n" + body)
            return await self._answer(reader)
        except BaseException:
            writer.close()
            self._streams = None
            raise

    async def _answer(self, reader: asyncio.StreamReader) -> Answer:
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if headers.get("transfer-encoding") == "chunked":
            content = b""
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                content += (await reader.readexactly(size + 2))[:-2]
            await reader.readuntil(b"\r\n")
        else:
            content = await reader.readexactly(int(headers.get("content-length", 0)))
        if headers.get("connection") == "close":
            self.close()
        return Answer(status, content)

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


def multipart(field: str, filename: str, content: bytes, media_type: str) -> tuple[bytes, str]:
    """A form with one file, and its Content-Type."""
    boundary = "facesift-load-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
        f'filename="{filename}"\r\nContent-Type: {media_type}\r\n\r\n'
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}"
    )


async def _call(
    client: LoopbackClient,
    tally: Tally,
    kind: str,
    method: str,
    url: str,
    body: bytes = b"",
    content_type: str | None = None,
) -> Answer | None:
    started = time.monotonic()
    try:
        response = await client.request(method, url, body, content_type)
    except (OSError, asyncio.IncompleteReadError, ValueError):
        tally.record(kind, started, None)
        return None
    tally.record(kind, started, response.status_code)
    if not response.is_success:
        tally.refused.add(f"{method} {url} {response.status_code}")
    return response


def as_json(value: object) -> tuple[bytes, str]:
    return json.dumps(value).encode(), "application/json"


async def think(seconds: float) -> None:
    """A person reading the answer before the next click."""
    if seconds > 0:
        await asyncio.sleep(random.uniform(0.5, 1.5) * seconds)


async def arrive(seconds: float) -> None:
    """Users arrive over the first think time, not all in the same millisecond: when all 50
    sent their first request at once, that one burst (30 cases opened and 20 reads together)
    made every request over 100 ms in a level, and set its p99 alone."""
    if seconds > 0:
        await asyncio.sleep(random.uniform(0, seconds))


async def investigator(
    base_url: str,
    world: World,
    name: str,
    n: int,
    upload: tuple[bytes, str],
    until: float,
    tally: Tally,
    think_s: float,
) -> None:
    client = LoopbackClient(base_url, world.auth(name))
    await arrive(think_s)
    case = await _call(
        client,
        tally,
        "open case",
        "POST",
        "/api/cases",
        *as_json(
            {
                "reference": f"LOAD-{name}-{n}-{time.monotonic_ns()}",
                "offense_category": "robbery",
                "purpose": PURPOSE,
            }
        ),
    )
    if case is None or case.status_code != 201:
        return
    case_id = case.json()["id"]
    search = as_json({"face_index": 0})
    while time.monotonic() < until:
        probe = await _call(
            client, tally, "upload probe", "POST", f"/api/cases/{case_id}/probes", *upload
        )
        if probe is None or probe.status_code != 201:
            continue
        await _call(
            client, tally, "search", "POST", f"/api/probes/{probe.json()['id']}/searches", *search
        )
        await think(think_s)
    client.close()


async def reader(
    base_url: str, world: World, name: str, until: float, tally: Tally, think_s: float
) -> None:
    client = LoopbackClient(base_url, world.auth(name))
    await arrive(think_s)
    for path in itertools.cycle(READERS[name]):
        if time.monotonic() >= until:
            break
        kind = "page" if not path.startswith("/api/") else "api read"
        started = time.monotonic()
        response = await _call(client, tally, kind, "GET", path)
        tally.by_path[path].append(time.monotonic() - started)
        if response is not None and path in LISTS:
            tally.sizes[path] = len(response.json())
        await think(think_s)
    client.close()


async def run_load(
    base_url: str,
    world: World,
    users: int,
    seconds: float,
    photo: bytes,
    think_s: float,
    tally: Tally | None = None,
    cpu: Callable[[], dict[str, float]] | None = None,
) -> Tally:
    """``users`` for ``seconds``; added to ``tally`` when given (a setting's rounds).
    ``cpu``: a reading of the CPU used so far, taken at the ends of the steady part."""
    tally = tally or Tally()
    upload = multipart("file", "probe.jpg", photo, "image/jpeg")
    until = time.monotonic() + seconds
    # A round too short to settle has no steady part (an empty window, not a negative one).
    tally.window = (min(until, until - seconds + think_s + SETTLE_S), until)
    sampler = asyncio.create_task(sample_steady(tally, cpu)) if cpu else None
    investigators = max(1, round(users * INVESTIGATOR_SHARE))
    readers = itertools.cycle(READERS)
    tasks = [
        investigator(base_url, world, INVESTIGATORS[n % 3], n, upload, until, tally, think_s)
        for n in range(investigators)
    ] + [
        reader(base_url, world, next(readers), until, tally, think_s)
        for _ in range(users - investigators)
    ]
    started = time.monotonic()
    await asyncio.gather(*tasks)
    tally.elapsed += time.monotonic() - started
    if sampler is not None:
        await sampler
    return tally


async def sample_steady(tally: Tally, cpu: Callable[[], dict[str, float]]) -> None:
    """The CPU used in the round's steady part, and its length, added to the tally."""
    start, end = tally.window
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    before = cpu()
    await asyncio.sleep(max(0.0, end - time.monotonic()))
    after = cpu()
    for key in before:
        tally.steady_cpu[key] += after[key] - before[key]
    tally.steady_seconds += end - start


def server_cpu_times(server_pid: int) -> Iterator[tuple[str, float, float]]:
    """(kind, user seconds, system seconds) for the server and each process under it: its
    probe analysis processes ("analysis", told apart by their lowered priority) and its
    request processes ("server")."""
    root = psutil.Process(server_pid)
    for process in [root, *root.children(recursive=True)]:
        try:
            times, niceness = process.cpu_times(), process.nice()
        except psutil.NoSuchProcess:
            continue
        yield "analysis" if niceness > root.nice() else "server", times.user, times.system


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the server's request processes, by its probe analysis
    processes and by this load client."""
    used = {"server": 0.0, "analysis": 0.0}
    for kind, user, system in server_cpu_times(server_pid):
        used[kind] += user + system
    me = psutil.Process().cpu_times()
    used["client"] = me.user + me.system
    # Every process on the machine: a level that leaves no core idle cannot gain by more
    # parallel analysis, only by less of the other work.
    machine = psutil.cpu_times()
    used["machine"] = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
    return used


def cpu_row(setting: str, users: int, tally: Tally, used: dict[str, float]) -> str:
    searches = len(tally.latencies.get("search", []))
    per = {key: seconds * 1000 / max(1, searches) for key, seconds in used.items()}
    busy = used["machine"] / max(tally.elapsed, 1e-9)
    return (
        f"| {setting} | {users} | {searches} | {per['analysis']:.0f} | {per['server']:.0f} "
        f"| {per['client']:.0f} | {busy:.2f} of {psutil.cpu_count()} |"
    )


def report(setting: str, users: int, tally: Tally) -> list[str]:
    rows = []
    elapsed = tally.elapsed
    for kind in ("search", "upload probe", "open case", "api read", "page"):
        times = sorted(tally.latencies.get(kind, []))
        if not times:
            continue
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        rows.append(
            f"| {setting} | {users} | {kind} | {len(times)} | {len(times) / elapsed:.1f} "
            f"| {statistics.median(times) * 1000:.0f} | {p99 * 1000:.0f} "
            f"| {tally.errors.get(kind, 0)} | {tally.server_errors.get(kind, 0)} |"
        )
    return rows


def report_paths(setting: str, users: int, tally: Tally) -> str:
    """Each read's p50 and p99, and how many items the lists answered with: what a slow
    read is slow at."""
    lines = [f"reads at {setting}, {users} users (p50 / p99 ms, items):"]
    for path, times in sorted(tally.by_path.items()):
        times = sorted(times)
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        size = f", {tally.sizes[path]} items" if path in tally.sizes else ""
        lines.append(f"  {path}: {statistics.median(times) * 1000:.0f} / {p99 * 1000:.0f}{size}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--seconds", type=float, default=20, help="a round's length, s")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="runs of each setting at each level, taken in turn (A B C A B C): the machine's"
        " speed drifts by 10-20%% over minutes on a shared host, and settings measured side"
        " by side, more than once, see the same drift",
    )
    parser.add_argument(
        "--think", type=float, default=1.0, help="a user's mean pause between requests, s"
    )
    parser.add_argument(
        "--settings",
        nargs="+",
        default=["sqlite-1proc-1analysis", "sqlite-1proc", "postgresql-2workers"],
    )
    parser.add_argument(
        "--detector",
        default=None,
        help="the servers' probe detector (FACESIFT_VISION__DETECTOR); the default's when unset."
        " The gain from analysing probes in parallel is bounded by 2a/(a+s) on two cores, a"
        " the analysis and s the rest of a search's CPU: hog (a ~370 ms) shows the gain the"
        " parallel analysis gives when analysis dominates, centerface (~105 ms) what is left",
    )
    args = parser.parse_args()
    random.seed(0)
    photo = probe_photo()
    with tempfile.TemporaryDirectory(prefix="facesift-load-") as tmp, ExitStack() as stack:
        servers = start_servers(stack, Path(tmp), args.settings, args.detector, photo)
        tallies: dict[tuple[str, int], Tally] = defaultdict(Tally)
        used: dict[tuple[str, int], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for users in args.users:
            for _ in range(args.rounds):
                for setting, (server, world) in servers.items():
                    before = cpu_seconds(server.process.pid)
                    asyncio.run(
                        run_load(
                            server.url,
                            world,
                            users,
                            args.seconds,
                            photo,
                            args.think,
                            tallies[setting, users],
                            cpu=lambda pid=server.process.pid: cpu_seconds(pid),
                        )
                    )
                    after = cpu_seconds(server.process.pid)
                    for key in before:
                        used[setting, users][key] += after[key] - before[key]
                    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
                    print(f"load average after {setting} at {users} users: {load}", file=sys.stderr)
    print_report(args.settings, args.users, tallies, used)


def lift_search_limit(server: LiveServer, world: World) -> None:
    """The per-user search limit would refuse a benchmark's pace: lifted to its ceiling, and
    a refusal stops the benchmark (it would spoil every figure)."""
    httpx.put(
        server.url_for("/api/settings/searches_per_minute"),
        json={"value": 100_000},
        headers=world.auth("admin"),
    ).raise_for_status()


def start_servers(
    stack: ExitStack, tmp: Path, settings: list[str], detector: str | None, photo: bytes
) -> dict[str, tuple[LiveServer, World]]:
    """Every setting's server, started and warmed up before any is measured; they wait idle
    while another is measured."""
    worlds: dict[str, World] = {}
    servers = {}
    for setting in settings:
        backend = setting.split("-")[0]
        if backend not in worlds:
            postgres = stack.enter_context(start_postgres()) if backend == "postgresql" else None
            worlds[backend] = build_world(tmp / backend, postgres)
        world = worlds[backend]
        extra = ["--workers", "2"] if "2workers" in setting else []
        if "1analysis" in setting:
            extra += ["--probe-workers", "1"]
        env = world.env() | ({"FACESIFT_VISION__DETECTOR": detector} if detector else {})
        server = stack.enter_context(start_server(world.data_dir, env, extra_args=extra))
        lift_search_limit(server, world)
        # Warm-up, not counted: enough users that every server worker starts its probe
        # analysis processes (with two users, PostgreSQL's second worker started its own in
        # the first measured level: a 2.7 s upload at 10 users).
        asyncio.run(run_load(server.url, world, 8, 4, photo, 0))
        servers[setting] = (server, world)
    return servers


def print_report(
    settings: list[str],
    levels: list[int],
    tallies: dict[tuple[str, int], Tally],
    used: dict[tuple[str, int], dict[str, float]],
) -> None:
    print("| setting | users | request | count | per s | p50 ms | p99 ms | errors | 5xx |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for users in levels:
        for setting in settings:
            tally = tallies[setting, users]
            for row in report(setting, users, tally):
                print(row)
            print(report_paths(setting, users, tally), file=sys.stderr)
            if tally.refused:
                print(f"errors from: {sorted(tally.refused)}", file=sys.stderr)
    print("\nCPU ms a search (everything the server, its analysis processes and this client")
    print("used while the level ran, divided by its searches; reads are counted in), and the")
    print("cores the whole machine kept busy on average (ramp-up and the last answers included)\n")
    print("| setting | users | searches | analysis | server | load client | machine busy |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for users in levels:
        for setting in settings:
            print(cpu_row(setting, users, tallies[setting, users], used[setting, users]))
    print(throughput_gain(settings, levels, tallies))
    print(gain_bounds(settings, levels, tallies))


def searches_per_second(tally: Tally) -> float:
    return len(tally.latencies.get("search", [])) / max(tally.elapsed, 1e-9)


def throughput_gain(
    settings: list[str], levels: list[int], tallies: dict[tuple[str, int], Tally]
) -> str:
    """Each setting's searches/s against the one-analysis-at-a-time setting's, level by
    level (the issue's 1.8x at 50 users): over the whole level, and in its steady part.

    The whole level counts the users' arrival, when a few of them cannot keep two cores
    busy, and the drain after its end, when the last photos are analysed one by one; both
    cost the parallel setting more than the one that uses one core anyway. The steady part
    (from ``SETTLE_S`` after the last arrival to the level's end) is the throughput at that
    many users."""
    base = baseline(settings)
    if base is None:
        return ""
    lines = [f"\nsearches/s against {base}, over the whole level | in its steady part:"]
    for users in levels:
        whole = {s: searches_per_second(tallies[s, users]) for s in settings}
        steady = {s: steady_per_second(tallies[s, users]) for s in settings}
        gains = [
            f"{s} {whole[s] / max(whole[base], 1e-9):.2f}x | "
            f"{steady[s] / max(steady[base], 1e-9):.2f}x"
            for s in settings
            if s != base
        ]
        lines.append(
            f"  {users} users: {base} {whole[base]:.1f}/s | {steady[base]:.1f}/s; "
            + ", ".join(gains)
        )
    return "\n".join(lines)


def baseline(settings: list[str]) -> str | None:
    """The one-analysis-at-a-time setting the others are compared with, if it ran."""
    return next((s for s in settings if "1analysis" in s), None)


def steady_per_second(tally: Tally) -> float:
    return tally.steady_searches / max(tally.steady_seconds, 1e-9)


def gain_bounds(
    settings: list[str], levels: list[int], tallies: dict[tuple[str, int], Tally]
) -> str:
    """What each setting's steady gain could at most have been, from the CPU it used a
    search in its steady part: with every core busy, cores / (analysis + server + client)
    searches a second, against the one-analysis-at-a-time setting's steady rate; and the
    same if the server and client had cost nothing. A gain near its first bound can grow
    only by less CPU a search; the second is this machine's ceiling at this analysis,
    whatever the server does."""
    base = baseline(settings)
    if base is None:
        return ""
    cores = psutil.cpu_count() or 1
    lines = [f"\nthe most each could gain on {cores} cores, from its steady CPU a search:"]
    for users in levels:
        base_rate = steady_per_second(tallies[base, users])
        for setting in settings:
            tally = tallies[setting, users]
            if setting == base or not tally.steady_searches or not base_rate:
                continue
            cpu = {k: v * 1000 / tally.steady_searches for k, v in tally.steady_cpu.items()}
            everything = cpu["analysis"] + cpu["server"] + cpu["client"]
            busy = tally.steady_cpu["machine"] / max(tally.steady_seconds, 1e-9)
            lines.append(
                f"  {users} users, {setting}: {cores * 1000 / everything / base_rate:.2f}x with"
                f" its server's and client's CPU, {cores * 1000 / cpu['analysis'] / base_rate:.2f}x"
                f" with none (CPU ms a search: analysis {cpu['analysis']:.0f}, server"
                f" {cpu['server']:.0f}, client {cpu['client']:.0f}; machine busy {busy:.2f})"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
