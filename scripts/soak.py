#!/usr/bin/env python3
"""Long randomized runs against real nodes, checking CONTRACT's guarantees (not a test: it
takes minutes and its schedule is random; run it after changes to the cluster or the store).

  scripts/soak.py restarts   [--rounds 40] [--seed S] [--together 0] [--mapper-kills 0]
                             [--wipes 0]
      3 nodes on this host; writers add, edit and delete entries (JSON API) through every
      node that is up, while nodes are killed (-9) or stopped (TERM) and started again, and
      used again at once (in a share of the rounds, --together, every node is killed at once
      and all start together; in a share, --mapper-kills, the host's port mapper is killed
      too, before the node or while it is down; in a share, --wipes, the node starts again
      without its data, as with a new disk).
      After each rejoin the rejoined node must serve every acknowledged write; at the end
      every node must serve the same.
  scripts/soak.py partitions [--rounds 25] [--seed S] [--kills 0.3] [--links 0] [--pauses 0]
                             [--hosts 3] [--mixed-ticks] [--stops 0]
      Hosts in network namespaces (root, iproute2); writers add, edit and delete through
      their own host's node while one host's cable (one time in five, every host's) is
      pulled and put back. In a share of the cuts (--links) only the link between two hosts
      is cut, both still reaching the others (an overlapping partition); in a share of the
      rounds (--pauses) no cable is pulled but a node is stopped (SIGSTOP) and goes on
      (SIGCONT), as a process that the machine stalls. In a share of the cuts (--kills) a
      node is also killed (-9) and started again, during the cut or after it; in a share of
      those (--stops) it is stopped with SIGTERM instead, and must leave within 20 s with
      exit code 0 (as must a node stopped so in restarts). With --mixed-ticks each node's
      tick time is 1, 2 or 4 s (else 2 s), so one side of a cut drops the other seconds
      before it is dropped in turn. After each cut, once all nodes see each other, the nodes
      cut off and the one restarted must serve every acknowledged write (the others are
      counted when they lag); at the end every node must serve the same lists, holding every
      acknowledged change.

In both, each writer also reads lists back: its own entries must show the change it was last
told of (or one still unanswered), through any node it uses. With --cli P, a share P of the
writers' asks go through the `todo` client (a hidden node for each command) instead of HTTP.

Binaries from .build/release (`make build`), or --bin DIR. Prints the seed; a run is repeated
with the same --seed (the timing still differs). Exit code 1 when a guarantee was broken.
"""
import argparse, http.client, json, os, random, shutil, signal, socket, subprocess, sys, threading, time
import urllib.error, urllib.parse, urllib.request

DAY = "2018-12-19"
# What a request cut short by a node's end raises: the change may or may not have happened.
NO_ANSWER = (OSError, http.client.HTTPException, ValueError)


def free_port():
    """A port nobody listens on, below the kernel's ephemeral range (as the tests pick them),
    so that no outgoing connection takes it while a node is down."""
    while True:
        port = random.randrange(20_000, 32_000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


def request(method, url, body=None, timeout=12):
    """(status, text); HTTP errors are answers too. Raises on no answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, method=method, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def eventually(condition, within):
    deadline = time.time() + within
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def stop_gracefully(process, label, ledger, within=20):
    """SIGTERM, as a user stops a node: it must leave within `within` s and exit 0 (CONTRACT:
    in-flight writes finish first; a write waits 5 s at most for a peer that does not answer).
    Returns how long it took, in seconds."""
    began = time.time()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        ledger.violation(f"{label}: still running {within} s after SIGTERM")
        process.kill()
        process.wait()
        return time.time() - began
    if code != 0:
        ledger.violation(f"{label}: exited with {code} after SIGTERM")
    return time.time() - began


class Ledger:
    """What writers asked for and what was acknowledged, entry by entry, and what a read of a
    list may therefore show: an entry's acknowledged title, or one asked for without an answer
    (such a change may or may not have happened), absent once a delete was acknowledged,
    never twice, never one nobody asked for."""

    def __init__(self):
        self.lock = threading.Lock()
        # (list, id) -> {"acked": title or None once deleted, "asked": [titles, None for a delete],
        #                "history": [(serial, title) of every change asked for]}
        self.entries = {}
        self.serial = 0  # of the last change asked for
        self.unanswered_adds = set()
        self.acked = 0
        self.reads = 0  # writers' reads of their own entries
        self.violations = []
        self.journals = {}  # path -> how far it was read (`follow`)

    def follow(self, path):
        """Takes in, from now on, a journal a writer in another process keeps."""
        self.journals[path] = 0

    # What writers tell it. Each is also a line of a writer's journal (`Journal`, `follow`).
    def asked_add(self, title):
        with self.lock:
            self.unanswered_adds.add(title)

    def acked_add(self, list_name, eid, title):
        with self.lock:
            self.unanswered_adds.discard(title)
            self.entries[(list_name, eid)] = {"acked": title, "asked": [], "history": []}
            self.acked += 1

    def asked_change(self, list_name, eid, title):
        """An edit to `title` (a delete when None) is asked for; whether a delete was asked
        for before (then a 404 is no surprise)."""
        with self.lock:
            state = self.entries[(list_name, eid)]
            deleted_before = None in state["asked"]
            state["asked"].append(title)
            self.serial += 1
            state["history"].append((self.serial, title))
            return deleted_before

    def acked_change(self, list_name, eid, title):
        with self.lock:
            # Older changes that got no answer stay allowed: a request its caller gave up on
            # may still be taken by the list's server later.
            state = self.entries[(list_name, eid)]
            state["asked"].remove(title)
            state["acked"] = title
            self.acked += 1

    def read_checked(self):
        with self.lock:
            self.reads += 1

    def catch_up(self):
        """Takes in the whole lines the followed journals gained since the last time."""
        for path, offset in self.journals.items():
            try:
                with open(path, "rb") as journal:
                    journal.seek(offset)
                    gained = journal.read()
            except FileNotFoundError:
                continue  # its writer has yet to start
            whole = gained[:gained.rfind(b"\n") + 1]  # a last line being written waits
            self.journals[path] = offset + len(whole)
            for line in whole.splitlines():
                event, *arguments = json.loads(line)["event"]
                getattr(self, event)(*arguments)

    def allowed(self, list_name, since=None):
        """What each entry may show: its acknowledged title, those asked for without an answer,
        and (`since` a serial) every title asked for after it. Also the adds asked for without
        an answer, and the serial of the last change asked for."""
        self.catch_up()
        since = self.serial if since is None else since
        with self.lock:
            return ({eid: {state["acked"], *state["asked"], *(title for serial, title in state["history"] if serial > since)}
                     for (name, eid), state in self.entries.items() if name == list_name},
                    set(self.unanswered_adds), self.serial)

    def check(self, label, list_name, read, stale_is_violation=True):
        """`read()` gives the list as [(id, title)]; checked against the ledger before and after
        it, so that a change answered meanwhile counts either way. An entry twice, or one nobody
        asked for, is a violation; so is one that lacks an acknowledged change, unless
        `stale_is_violation` is false: then it is only given back. Gives those."""
        before, unanswered_before, serial = self.allowed(list_name)
        shown = read()
        # A read takes time: a change asked for and answered meanwhile may show, even when a
        # later one came after it.
        after, unanswered_after, _ = self.allowed(list_name, since=serial)
        titles = [title for _, title in shown]
        if len(titles) != len(set(titles)):
            self.violation(f"{label}: {list_name} shows {len(titles) - len(set(titles))} entries twice")
        by_id, stale = dict(shown), []
        for eid, allowed in before.items():
            if by_id.get(eid) not in allowed | after.get(eid, set()):
                stale.append(f"{label}: {list_name}/{eid} is {by_id.get(eid)!r}, acknowledged or asked: {sorted(map(str, allowed))}")
                if stale_is_violation:
                    self.violation(stale[-1])
        for eid, title in shown:
            if eid not in before and eid not in after and title not in unanswered_before | unanswered_after:
                self.violation(f"{label}: {list_name}/{eid} {title!r} was never asked for")
        return stale

    def violation(self, text):
        with self.lock:
            self.violations.append(text)
        print("VIOLATION", text, flush=True)


class HttpDoor:
    """A node's JSON API: what `OpsWriter` asks through, answering as HTTP does."""

    def __init__(self, port):
        self.port, self.base = port, f"http://127.0.0.1:{port}"

    def where(self, list_name, eid=None):
        return f"{self.base}/lists/{list_name}/entries" + (f"/{urllib.parse.quote(eid)}" if eid else "")

    def add(self, list_name, title):
        """(status, the new entry's id or None)."""
        status, body = request("POST", self.where(list_name), {"date": DAY, "title": title})
        return status, json.loads(body)["id"] if status == 201 else None

    def change(self, list_name, eid, title):
        """An edit to `title`, or a delete when it is None: the status."""
        url = self.where(list_name, eid)
        return (request("PUT", url, {"title": title}) if title is not None else request("DELETE", url))[0]

    def read(self, list_name):
        """{id: title}; raises (`NO_ANSWER`) when the node did not serve it."""
        return dict(read_entries(self.port, list_name))


class BadUsage(Exception):
    """The `todo` client refused a command as bad usage (exit 2): the soak's own bug."""


class CliDoor:
    """The `todo` client, which joins the node's cluster as a hidden node for each command:
    the same asks as `HttpDoor`'s, answering in its statuses. Exit 1 (the command failed) is
    no answer, the change may or may not have happened, except for an entry it says is not there."""

    def __init__(self, binary, node, mapper_port=None, cookie=None):
        self.node = node
        self.command = [binary, "--node", node, "--json", *(["--mapper-port", str(mapper_port)] if mapper_port else []),
                        *(["--cookie", cookie] if cookie else [])]

    def where(self, list_name, eid=None):
        return f"todo --node {self.node} ({list_name}{' ' + eid if eid else ''})"

    def run(self, *arguments):
        try:
            done = subprocess.run([*self.command, *arguments], capture_output=True, text=True, timeout=20)
        except subprocess.TimeoutExpired as error:
            raise OSError(f"{self.where(arguments[1])}: no answer in 20 s") from error
        if done.returncode == 2:
            raise BadUsage(f"todo {' '.join(arguments)}: {done.stderr.strip()}")
        if done.returncode == 1 and any(line.startswith("todo: no entry ") for line in done.stderr.splitlines()):
            return 404, None
        if done.returncode != 0:
            raise OSError(f"{self.where(arguments[1])}: {done.stderr.strip()}")
        return 200, json.loads(done.stdout)

    def add(self, list_name, title):
        status, entry = self.run("add", list_name, DAY, title)
        return (201, entry["id"]) if status == 200 else (status, None)

    def change(self, list_name, eid, title):
        if title is None:
            return 204 if self.run("delete", list_name, eid)[0] == 200 else 404
        return self.run("update", list_name, eid, "--title", title)[0]

    def read(self, list_name):
        return {entry["id"]: entry["title"] for entry in self.run("entries", list_name, DAY)[1]}


class OpsWriter(threading.Thread):
    """Adds, edits and deletes entries of its own through a node that is up, and reads lists
    back: its own entries must show what it was last told (read your writes). It asks through
    each node's JSON API, or (a share `cli` of its asks) through the `todo` client, `clis`."""

    def __init__(self, tag, ledger, lists, ports, up, stop, rng, clis=None, cli=0):
        super().__init__(daemon=True)
        self.tag, self.ledger, self.lists, self.ports, self.up, self.stop, self.rng = tag, ledger, lists, ports, up, stop, rng
        self.clis, self.cli = clis, cli
        self.mine = []
        # What a read may show of each entry of its own, (list, id): the title last acknowledged
        # (None once deleted), or one asked for without an answer.
        self.acked, self.unanswered = {}, {}

    def run(self):
        serial = 0
        while not self.stop.is_set():
            with self.ledger.lock:
                nodes = sorted(self.up)
            if not nodes:
                time.sleep(0.01)
                continue
            node = self.rng.choice(nodes)
            # Drawn only with a `cli` share, so that a seed without it tells the story it told before.
            door = self.clis[node] if self.cli and self.rng.random() < self.cli else HttpDoor(self.ports[node])
            serial += 1
            title = f"{self.tag}-{serial}"
            try:
                dice = self.rng.random()
                if dice < 0.2 and self.mine:
                    self.read(door, self.rng.choice(self.mine)[0])
                elif dice < 0.7 or not self.mine:
                    self.add(door, self.rng.choice(self.lists), title)
                else:
                    self.change(door, self.rng.choice(self.mine), title if self.rng.random() < 0.8 else None)
            except NO_ANSWER:
                time.sleep(0.05)  # the ledger allows either outcome; the node may be down
            except BadUsage as error:  # counted, so that the run fails; this writer stops
                self.ledger.violation(f"{self.tag}: bad usage: {error}")
                return

    def add(self, door, list_name, title):
        self.ledger.asked_add(title)
        status, eid = door.add(list_name, title)
        if status == 201:
            self.ledger.acked_add(list_name, eid, title)
            self.mine.append((list_name, eid))
            self.acked[(list_name, eid)], self.unanswered[(list_name, eid)] = title, set()

    def change(self, door, key, title):
        """An edit to `title`, or a delete when it is None."""
        list_name, eid = key
        deleted_before = self.ledger.asked_change(list_name, eid, title)
        self.unanswered[key].add(title)
        status = door.change(list_name, eid, title)
        if status in (200, 204):
            self.ledger.acked_change(list_name, eid, title)
            self.unanswered[key].discard(title)
            self.acked[key] = title
            if title is None:
                self.mine.remove(key)
        elif status == 404 and not deleted_before:
            self.ledger.violation(f"{self.tag}: {door.where(list_name, eid)} answered 404 for an entry never deleted")

    def read(self, door, list_name):
        shown = door.read(list_name)  # raises when unavailable: no answer about the data
        self.ledger.read_checked()
        for (name, eid), title in self.acked.items():
            if name == list_name and shown.get(eid) not in {title} | self.unanswered[(name, eid)]:
                self.ledger.violation(f"{self.tag}: {door.where(list_name)} shows its own {eid} as {shown.get(eid)!r}, "
                                      f"acknowledged as {title!r}")


class Journal:
    """A ledger for a writer in a host's namespace: each event a line of JSON in a file, with
    its time (to read beside the nodes' logs), for the ledger outside to `follow`."""

    def __init__(self, path):
        self.file, self.lock, self.deletes_asked = open(path, "a", buffering=1), threading.Lock(), set()

    def write(self, *event):
        with self.lock:
            now = time.time()
            stamp = time.strftime("%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}"  # UTC, as the logs
            self.file.write(json.dumps({"time": stamp, "event": event}) + "\n")

    def asked_add(self, title):
        self.write("asked_add", title)

    def acked_add(self, list_name, eid, title):
        self.write("acked_add", list_name, eid, title)

    def asked_change(self, list_name, eid, title):
        self.write("asked_change", list_name, eid, title)
        deleted_before = (list_name, eid) in self.deletes_asked
        if title is None:
            self.deletes_asked.add((list_name, eid))
        return deleted_before

    def acked_change(self, list_name, eid, title):
        self.write("acked_change", list_name, eid, title)

    def read_checked(self):
        self.write("read_checked")

    def violation(self, text):
        self.write("violation", text)


def read_entries(port, list_name, namespace=None):
    url = f"http://127.0.0.1:{port}/lists/{list_name}/entries?date={DAY}"
    if namespace:
        done = subprocess.run(["ip", "netns", "exec", namespace, "curl", "-s", "-m", "12", "-w", "\n%{http_code}", url],
                              capture_output=True, text=True)
        body, _, status = done.stdout.rpartition("\n")
        if done.returncode != 0 or status != "200":
            raise OSError(f"GET {url} in {namespace}: curl exit {done.returncode}, status {status}: {body[:200]}")
    else:
        status, body = request("GET", url)
        if status != 200:
            raise OSError(f"GET {url}: {status}")
    return [(entry["id"], entry["title"]) for entry in json.loads(body)]


def restarts(args, rng, ledger):
    run = args.work
    ports, mapper = [free_port() for _ in range(3)], free_port()
    names = [f"soak{i + 1}@localhost" for i in range(3)]
    lists = [f"l{i}" for i in range(12)]
    nodes = [None] * 3

    def start(i, *joins):
        arguments = [f"{args.bin}/todo-node", "--name", names[i], "--http-port", str(ports[i]), "--mapper-port", str(mapper),
                     "--cookie", "soak", "--data-dir", f"{run}/data{i + 1}",
                     # short ones make servers stop and start again between writes
                     "--server-idle-timeout", str(rng.choice([1, 2, 60]))]
        for join in joins:
            arguments += ["--connect", names[join]]
        with open(f"{run}/{names[i]}.log", "a") as log:
            nodes[i] = subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT)

    def peers(i):
        try:
            return set(json.loads(request("GET", f"http://127.0.0.1:{ports[i]}/health", timeout=2)[1])["nodes"])
        except (*NO_ANSWER, KeyError):
            return None

    def kill_mapper():
        """The port mapper daemon the nodes started (and start again)."""
        subprocess.run(["pkill", "-KILL", "-f", f"mapper-daemon --mapper-port {mapper}$"])

    def check(i, label):
        for list_name in lists:
            try:
                ledger.check(f"{label}, {names[i]}", list_name, lambda: read_entries(ports[i], list_name))
            except NO_ANSWER as error:
                ledger.violation(f"{label}: {names[i]} did not serve {list_name}: {error!r}")

    up, stop = set(), threading.Event()
    try:
        start(0)
        if not eventually(lambda: peers(0) is not None, 30):
            sys.exit(f"{names[0]} did not start; see {run}")
        for i in (1, 2):
            start(i, 0)
        if not eventually(lambda: all(peers(i) == set(names) - {names[i]} for i in range(3)), 30):
            sys.exit(f"the nodes did not join; see {run}")
        up.update(range(3))
        clis = [CliDoor(f"{args.bin}/todo", names[i], mapper, "soak") for i in range(3)]
        writers = [OpsWriter(f"w{w}", ledger, lists, ports, up, stop, random.Random(rng.random()), clis, args.cli)
                   for w in range(6)]
        for writer in writers:
            writer.start()
        for round_number in range(args.rounds):
            time.sleep(rng.uniform(1, 4))
            # (--together) every node killed at once, as a host that loses power, and all started
            # again together, each joining through the others. Drawn only with --together, so
            # that a seed without it tells the story it told before.
            if args.together and rng.random() < args.together:
                with ledger.lock:
                    up.clear()
                for node in nodes:
                    node.kill()
                    node.wait()
                time.sleep(rng.uniform(0.2, 3))
                for i in range(3):
                    start(i, *[j for j in range(3) if j != i])
                with ledger.lock:
                    up.update(range(3))
                if not eventually(lambda: all(peers(i) == set(names) - {names[i]} for i in range(3)), 30):
                    ledger.violation(f"round {round_number}: the nodes did not all rejoin")
                for i in range(3):
                    check(i, f"round {round_number}, after every node was killed and started again")
                print(f"round {round_number}: SIGKILL every node; {ledger.acked} changes acknowledged", flush=True)
                continue
            victim, how = rng.randrange(3), rng.choice([signal.SIGKILL, signal.SIGKILL, signal.SIGTERM])
            # (--mapper-kills) the host's port mapper is killed too, just before the node or
            # while it is down: the nodes left must start another, register again, and look
            # the restarted node up there. Drawn only with --mapper-kills, as --together.
            mapper_killed = args.mapper_kills and rng.random() < args.mapper_kills
            mapper_first = mapper_killed and rng.random() < 0.5
            if mapper_first:
                kill_mapper()
            with ledger.lock:
                up.discard(victim)
            stop_took = None
            if how == signal.SIGTERM:
                stop_took = stop_gracefully(nodes[victim], f"round {round_number}, {names[victim]}", ledger)
            else:
                nodes[victim].kill()
                nodes[victim].wait()
            if mapper_killed and not mapper_first:
                kill_mapper()
            # (--wipes) its disk is lost too: it starts with no data and must serve every write
            # it ever held, from its peers. Drawn only with --wipes, as --together.
            wiped = args.wipes and rng.random() < args.wipes
            if wiped:
                shutil.rmtree(f"{run}/data{victim + 1}")
            time.sleep(rng.uniform(0.2, 3))
            start(victim, rng.choice([i for i in range(3) if i != victim]))
            # Writers use it at once, as a load balancer would once its port answers: what it
            # serves before it has rejoined must be as fresh as after.
            with ledger.lock:
                up.add(victim)
            if not eventually(lambda: peers(victim) == set(names) - {names[victim]}, 30):
                ledger.violation(f"round {round_number}: {names[victim]} did not rejoin")
            check(victim, f"round {round_number}, after {how.name} and rejoin")
            story = f"{how.name} {names[victim]}" + (f" ({stop_took:.1f} s to stop)" if stop_took is not None else "")
            story += f", the port mapper killed {'before' if mapper_first else 'after'} it" if mapper_killed else ""
            story += ", its data removed" if wiped else ""
            print(f"round {round_number}: {story}; {ledger.acked} changes acknowledged", flush=True)
        stop.set()
        for writer in writers:
            writer.join()
        for i in range(3):
            check(i, "at the end")
        views = [[sorted(read_entries(ports[i], name)) for name in lists] for i in range(3)]
        if any(view != views[0] for view in views):
            ledger.violation("at the end: the nodes serve different lists")
    finally:
        stop.set()
        for node in nodes:
            if node and node.poll() is None:
                node.kill()
                node.wait()
        subprocess.run(["pkill", "-KILL", "-f", f"mapper-port {mapper}"])  # the port mapper the first node started


def partitions(args, rng, ledger):
    prefix = "soak" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(4))
    switch, hosts, port, lists = prefix + "-sw", list(range(1, args.hosts + 1)), 8080, [f"l{i}" for i in range(6)]
    namespace = lambda host: f"{prefix}-h{host}"
    address = lambda host: f"10.78.0.{host}"
    name = lambda host: f"n{host}@{address(host)}"
    made, processes, nodes = [], [], {}

    def ip(*arguments):
        subprocess.run(["ip", *arguments], check=True)

    def peers(host):
        done = subprocess.run(["ip", "netns", "exec", namespace(host), "curl", "-sf", "-m", "2", f"http://127.0.0.1:{port}/health"],
                              capture_output=True, text=True)
        try:
            return set(json.loads(done.stdout)["nodes"])
        except ValueError:
            return None

    try:
        ip("netns", "add", switch)
        made.append(switch)
        ip("-n", switch, "link", "add", "br0", "type", "bridge")
        ip("-n", switch, "link", "set", "br0", "up")
        for host in hosts:
            ip("netns", "add", namespace(host))
            made.append(namespace(host))
            ip("-n", switch, "link", "add", f"port{host}", "type", "veth", "peer", "name", "eth0", "netns", namespace(host))
            ip("-n", switch, "link", "set", f"port{host}", "master", "br0", "up")
            ip("-n", namespace(host), "addr", "add", f"{address(host)}/24", "dev", "eth0")
            ip("-n", namespace(host), "link", "set", "eth0", "up")
            ip("-n", namespace(host), "link", "set", "lo", "up")
        def start(host, join):
            with open(f"{args.work}/{name(host)}.log", "a") as log:
                nodes[host] = subprocess.Popen(
                    ["ip", "netns", "exec", namespace(host), f"{args.bin}/todo-node", "--name", name(host), "--http-port", str(port),
                     "--tick-time", str(rng.choice([1, 2, 4]) if args.mixed_ticks else 2), "--data-dir", f"{args.work}/data{host}", "--server-idle-timeout", str(rng.choice([1, 60])),
                     *(["--connect", name(join)] if join else [])],
                    stdout=log, stderr=subprocess.STDOUT)

        def blackholes(link, action):
            """Cuts (`add`) or mends (`del`) the link between two hosts, in both directions."""
            for one, other in (link, link[::-1]):
                ip("-n", namespace(one), "route", action, "blackhole", f"{address(other)}/32")

        def all_joined():
            return all(peers(h) == {name(o) for o in hosts if o != h} for h in hosts)

        for host in hosts:
            start(host, None if host == 1 else 1)
            if not eventually(lambda: peers(host) is not None, 30):
                sys.exit(f"{name(host)} did not start; see {args.work}")
        if not eventually(all_joined, 30):
            sys.exit(f"the nodes did not join; see {args.work}")
        # Writers inside the namespaces: this script, as `ops-writer`, two per host, each
        # keeping a journal of what it asked for and what was acknowledged.
        writers = []
        for host in hosts:
            for w in range(2):
                journal = f"{args.work}/journal-h{host}-{w}.jsonl"
                ledger.follow(journal)
                writers.append(subprocess.Popen(["ip", "netns", "exec", namespace(host), sys.executable, __file__, "ops-writer",
                                                 str(port), f"h{host}w{w}", journal, ",".join(lists), str(rng.random()),
                                                 f"{args.bin}/todo", name(host), str(args.cli)]))
        processes += writers
        lagging = reconnecting = 0

        def downs_between(start, end):
            """Whether a node logged a peer down in the seconds from `start` to `end`, whole
            seconds around them (a stamp's first 19 characters; UTC)."""
            seconds = {time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) for t in range(int(start) - 1, int(end) + 2)}
            for host in hosts:
                with open(f"{args.work}/{name(host)}.log", errors="replace") as log:
                    if any(" down: " in line and line[:19] in seconds for line in log):
                        return True
            return False
        for round_number in range(args.rounds):
            time.sleep(rng.uniform(1, 3))
            # One host cut off from the others, or (one cut in five) every host from every other;
            # or (--links) only two hosts from each other. Drawn only with --links, so that a
            # seed without it tells the story it told before.
            link = rng.sample(hosts, 2) if args.links and rng.random() < args.links else None
            victims, length = (hosts if rng.random() < 0.2 else [rng.choice(hosts)]), rng.uniform(0.5, 8)
            if link:
                victims = link
            # Or (--pauses) no cable is pulled: one node is stopped (SIGSTOP), as a process
            # the machine stalls, and goes on where it was (SIGCONT) while its peers have
            # moved on without it. Drawn only with --pauses, as --links.
            paused = rng.choice(hosts) if not link and args.pauses and rng.random() < args.pauses else None
            if paused:
                victims = [paused]
            # What happens during the cut, at seconds after it starts: the cable goes back
            # in, and maybe a node on one side is killed and started again.
            events, killed = [(length, "heal", 0)], None
            if rng.random() < args.kills:
                killed, at = rng.choice(hosts), rng.uniform(0, length)
                events += [(at, "kill", killed), (at + rng.uniform(0.2, 3), "start", killed)]
            # (--stops) the node is stopped with SIGTERM rather than killed, as a user stops it,
            # cut off or not: it must still leave within seconds, with exit code 0. Not the
            # node a pause holds (it would take the signal only as it goes on). Drawn only with
            # --stops, as --links.
            graceful = killed is not None and args.stops and rng.random() < args.stops and killed != paused
            stop_took = 0
            if link:
                blackholes(link, "add")
            elif paused:
                nodes[paused].send_signal(signal.SIGSTOP)
            else:
                for victim in victims:
                    ip("-n", switch, "link", "set", f"port{victim}", "down")
            cut = time.time()
            for at, what, host in sorted(events):
                time.sleep(max(0, cut + at - time.time()))
                if what == "heal" and link:
                    blackholes(link, "del")
                elif what == "heal" and paused:
                    if nodes[paused].poll() is None:
                        nodes[paused].send_signal(signal.SIGCONT)
                elif what == "heal":
                    for victim in victims:
                        ip("-n", switch, "link", "set", f"port{victim}", "up")
                elif what == "kill" and graceful:
                    stop_took = stop_gracefully(nodes[host], f"round {round_number}, {name(host)}", ledger)
                elif what == "kill":
                    nodes[host].kill()
                    nodes[host].wait()
                else:
                    start(host, rng.choice([o for o in hosts if o != host]))
            story = f"{'every host' if len(victims) > 1 else name(victims[0])} cut off for {length:.1f} s"
            if link:
                story = f"the link between {name(link[0])} and {name(link[1])} cut for {length:.1f} s"
            if paused:
                story = f"{name(paused)} stopped for {length:.1f} s"
            if killed:
                how = f"stopped (TERM, {stop_took:.1f} s)" if graceful else "killed"
                story += f", {name(killed)} {how} on {'its' if killed in victims else 'the other'} side and started again"
            if not eventually(all_joined, 60):
                ledger.violation(f"round {round_number}: the nodes did not all see each other within 60 s of the heal")
            # Catch-up: the node that was cut off, and the one restarted, serve every write they
            # missed; the others count when they lag behind the side they were cut from. After a
            # short cut the nodes may all see each other before the tick timeout drops a
            # connection the cut stalled: a read during that reconnect is not after a rejoin.
            for host in hosts:
                label, started, stale = f"round {round_number}, after the heal, {name(host)}", time.time(), []
                for list_name in lists:
                    try:
                        stale += ledger.check(label, list_name, lambda: read_entries(port, list_name, namespace(host)),
                                              stale_is_violation=False)
                    except NO_ANSWER as error:
                        ledger.violation(f"{label} did not serve {list_name}: {error}")
                if host not in (*victims, killed):
                    lagging += len(stale)
                    for text in stale:
                        print("lagging:", text, flush=True)
                elif stale and downs_between(started, time.time()):
                    reconnecting += len(stale)
                    for text in stale:
                        print("during a reconnect:", text, flush=True)
                else:
                    for text in stale:
                        ledger.violation(text)
            print(f"round {round_number}: {story}; {ledger.acked} changes acknowledged", flush=True)
        for writer in writers:
            writer.send_signal(signal.SIGTERM)
            writer.wait()

        # Converged once every node serves the same lists, each entry as the ledger allows;
        # checked in full after that.
        def converged():
            try:
                for list_name in lists:
                    views = [dict(read_entries(port, list_name, namespace(host))) for host in hosts]
                    allowed = ledger.allowed(list_name)[0]
                    if any(view != views[0] for view in views) or any(views[0].get(eid) not in ok for eid, ok in allowed.items()):
                        return False
                return True
            except NO_ANSWER:
                return False
        started = time.time()
        if not eventually(converged, 90):
            ledger.violation("the nodes did not converge within 90 s of the last cut")
        print(f"converged {time.time() - started:.1f} s after the writers stopped", flush=True)
        print(f"right after a heal, {lagging} entries lacked a change on a node neither cut off nor restarted, and "
              f"{reconnecting} on one that was, during a reconnect", flush=True)
        for host in hosts:
            for list_name in lists:
                try:
                    ledger.check(f"at the end, {name(host)}", list_name, lambda: read_entries(port, list_name, namespace(host)))
                except NO_ANSWER as error:
                    ledger.violation(f"at the end: {name(host)} did not serve {list_name}: {error}")
    finally:
        for process in [*processes, *nodes.values()]:
            if process.poll() is None:
                process.kill()
                process.wait()
        for made_namespace in reversed(made):
            # The port mappers the nodes started live on in a deleted namespace: end them first.
            pids = subprocess.run(["ip", "netns", "pids", made_namespace], capture_output=True, text=True).stdout.split()
            for pid in pids:
                os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "delete", made_namespace])


def ops_writer(port, tag, journal, lists, seed, client, node, cli):
    """Inside a host's namespace: an `OpsWriter` on its own node until TERM, keeping a journal."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    writer = OpsWriter(tag, Journal(journal), lists.split(","), [port], {0}, stop, random.Random(seed), [CliDoor(client, node)], cli)
    writer.start()
    while writer.is_alive():
        writer.join(0.2)


def main():
    if len(sys.argv) == 10 and sys.argv[1] == "ops-writer":
        port, tag, journal, lists, seed, client, node, cli = sys.argv[2:]
        return ops_writer(int(port), tag, journal, lists, float(seed), client, node, float(cli))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["restarts", "partitions"])
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--kills", type=float, default=0.3, help="partitions: the share of cuts with a node killed")
    parser.add_argument("--links", type=float, default=0, help="partitions: the share of cuts of one link between two hosts")
    parser.add_argument("--pauses", type=float, default=0, help="partitions: the share of rounds that stop a node instead of a cut")
    parser.add_argument("--stops", type=float, default=0, help="partitions: the share of those kills made with SIGTERM instead")
    parser.add_argument("--hosts", type=int, default=3, help="partitions: how many hosts (and nodes)")
    parser.add_argument("--mixed-ticks", action="store_true",
                        help="partitions: each node starts with a tick time of 1, 2 or 4 s, not 2 s: one side of a cut sees it first")
    parser.add_argument("--together", type=float, default=0, help="restarts: the share of rounds that kill every node at once")
    parser.add_argument("--wipes", type=float, default=0, help="restarts: the share of rounds whose node starts again without its data")
    parser.add_argument("--mapper-kills", type=float, default=0, help="restarts: the share of rounds that kill the port mapper too")
    parser.add_argument("--cli", type=float, default=0, help="the share of writers' asks made with the todo client, not HTTP")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--bin", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "release"))
    args = parser.parse_args()
    args.rounds = args.rounds or (40 if args.mode == "restarts" else 25)
    args.bin = os.path.abspath(args.bin)
    args.work = subprocess.run(["mktemp", "-d", "/tmp/soak-XXXXXX"], capture_output=True, text=True, check=True).stdout.strip()
    print(f"soak {args.mode}: seed {args.seed}, {args.rounds} rounds, logs and data in {args.work}", flush=True)
    ledger = Ledger()
    (restarts if args.mode == "restarts" else partitions)(args, random.Random(args.seed), ledger)
    print(f"{ledger.acked} changes acknowledged, {ledger.reads} reads of writers' own entries; {len(ledger.violations)} violations")
    for violation in ledger.violations[:30]:
        print("  " + violation)
    sys.exit(1 if ledger.violations else 0)


if __name__ == "__main__":
    main()
