"""The server's own CPU for one investigator's cycle (upload a probe, search it) and the
reads that come with it at 50 users, one request at a time: the cost the load benchmark's
gain is bounded by, measured without the load's noise. Loopback only.

    .venv/bin/python bench/server_cpu.py                      # this tree
    .venv/bin/python bench/server_cpu.py --against 4168f45    # this tree against a commit

Why one at a time, and why against a commit in the same run: at 50 users the server's CPU
a search moved by 10-20% from one run to the next (the host's speed drifts over minutes),
more than any one change to a request's work. Here each tree gets its own copy of the same
gallery and its own server, and they are measured in turn, ``--cycles`` cycles each,
``--rounds`` times (A B, B A, ...), so both see the same drift. The other tree is a
temporary ``git worktree`` of ``--against``, put first on its server's ``PYTHONPATH``.

A cycle is an upload and a search by an investigator (over four keep-alive connections, so
with ``--workers 2`` both workers serve searches), then 1.33 reads taken in turn from the
load benchmark's readers (``load.READERS``): at 50 users the readers make 1.3-1.4 reads a
search. The server's CPU is its request processes' (``load.server_cpu_times``: its probe
analysis processes run at a lower priority and are counted apart), user and system.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from load import (  # noqa: E402
    PURPOSE,
    READERS,
    LoopbackClient,
    as_json,
    lift_search_limit,
    multipart,
    probe_photo,
    server_cpu_times,
)

from tests.browser_support import LiveServer, start_server  # noqa: E402
from tests.postgres import start_postgres  # noqa: E402
from tests.server_world import World, build_world  # noqa: E402

READS = [(name, path) for name, paths in READERS.items() for path in paths]
CONNECTIONS = 4  # investigator connections: the workers of --workers 2 each get some


@dataclass
class Tree:
    label: str
    server: LiveServer
    world: World
    case_id: int
    user_s: float = 0.0
    system_s: float = 0.0
    cycles: int = 0

    def cpu(self) -> tuple[float, float]:
        """User and system CPU seconds of the server's request processes so far."""
        requests = [
            (user, system)
            for kind, user, system in server_cpu_times(self.server.process.pid)
            if kind == "server"
        ]
        return sum(u for u, _ in requests), sum(s for _, s in requests)


async def run_cycles(tree: Tree, photo: bytes, cycles: int) -> None:
    """``cycles`` uploads and searches, each followed by its reads."""
    url, world = tree.server.url, tree.world
    investigators = [LoopbackClient(url, world.auth("ivan")) for _ in range(CONNECTIONS)]
    readers = {name: LoopbackClient(url, world.auth(name)) for name in READERS}
    upload = multipart("file", "probe.jpg", photo, "image/jpeg")
    search = as_json({"face_index": 0})
    reads = itertools.cycle(READS)
    for n in range(cycles):
        client = investigators[n % CONNECTIONS]
        probe = await client.request("POST", f"/api/cases/{tree.case_id}/probes", *upload)
        if probe.status_code != 201:
            raise SystemExit(f"{tree.label}: upload answered {probe.status_code}")
        found = await client.request("POST", f"/api/probes/{probe.json()['id']}/searches", *search)
        if found.status_code != 201:
            raise SystemExit(f"{tree.label}: search answered {found.status_code}")
        for _ in range(1 + (n % 3 == 0)):  # 4 reads every 3 cycles
            name, path = next(reads)
            read = await readers[name].request("GET", path)
            if read.status_code != 200:
                raise SystemExit(f"{tree.label}: {path} answered {read.status_code}")
    for client in [*investigators, *readers.values()]:
        client.close()


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """A temporary checkout of ``revision``, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="facesift-against-")) / "tree"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(folder), revision],
        check=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(folder)], check=False
        )


def start_tree(
    stack: ExitStack, tmp: Path, label: str, source: Path | None, backend: str, photo: bytes
) -> Tree:
    """A server of the tree at ``source`` (None: this one) on its own copy of the gallery."""
    postgres = stack.enter_context(start_postgres()) if backend == "postgresql" else None
    world = build_world(tmp / label, postgres)
    env = world.env() | ({"PYTHONPATH": str(source / "src")} if source else {})
    extra = ["--workers", "2"] if backend == "postgresql" else []
    server = stack.enter_context(start_server(world.data_dir, env, extra_args=extra))
    lift_search_limit(server, world)
    case = {"reference": f"CPU-{label}", "offense_category": "robbery", "purpose": PURPOSE}
    opened = httpx.post(server.url_for("/api/cases"), json=case, headers=world.auth("ivan"))
    opened.raise_for_status()
    tree = Tree(label, server, world, opened.json()["id"])
    asyncio.run(run_cycles(tree, photo, 10))  # warm-up: the analysis processes start
    return tree


def measure(trees: list[Tree], photo: bytes, rounds: int, cycles: int) -> None:
    for n in range(rounds):
        for tree in trees if n % 2 == 0 else trees[::-1]:
            user, system = tree.cpu()
            asyncio.run(run_cycles(tree, photo, cycles))
            after = tree.cpu()
            tree.user_s += after[0] - user
            tree.system_s += after[1] - system
            tree.cycles += cycles
            ms = (after[0] - user + after[1] - system) * 1000 / cycles
            print(f"round {n + 1}, {tree.label}: {ms:.1f} ms a cycle", file=sys.stderr)


def report(trees: list[Tree], backend: str) -> None:
    print(f"server CPU a cycle (upload, search, 1.33 reads), {backend}, one request at a time:")
    print("| tree | cycles | user ms | system ms | total ms |")
    print("|---|---:|---:|---:|---:|")
    totals = []
    for tree in trees:
        user, system = (s * 1000 / max(1, tree.cycles) for s in (tree.user_s, tree.system_s))
        totals.append(user + system)
        print(f"| {tree.label} | {tree.cycles} | {user:.2f} | {system:.2f} | {user + system:.2f} |")
    if len(totals) == 2:
        print(f"this tree / {trees[1].label}: {totals[0] / totals[1]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", help="a commit to measure this tree against")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=6, help="turns each tree is measured")
    parser.add_argument("--cycles", type=int, default=60, help="cycles a turn")
    args = parser.parse_args()
    photo = probe_photo()
    with tempfile.TemporaryDirectory(prefix="facesift-cpu-") as tmp, ExitStack() as stack:
        trees = [start_tree(stack, Path(tmp), "this tree", None, args.backend, photo)]
        if args.against:
            source = stack.enter_context(worktree(args.against))
            trees.append(start_tree(stack, Path(tmp), args.against, source, args.backend, photo))
        measure(trees, photo, args.rounds, args.cycles)
    report(trees, args.backend)


if __name__ == "__main__":
    main()
