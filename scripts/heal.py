#!/usr/bin/env python3
"""A heal of many clashing list servers, measured (not a test: a minute or more, and what it
gives are timings, which no test asserts).

  scripts/heal.py [--lists 20000] [--clients 8] [--after 15] [--bin DIR] [--keep]

Two nodes on this host, tick time 4 s. Lists heal_1..N are written once through the second
node, whose servers then hold them; the second is stopped (SIGSTOP) until the first drops
it, and each list is written once through the first (which starts its own servers for the
same lists: a clash each, once they meet again). Then clients POST to random lists through
the first while the second goes on (SIGCONT). Prints the first node's answers second by
second around the heal, the slowest request after it, the failures, and the nodes' log lines
that tell of the heal's work (take-ins that timed out, catch-up). README's heal figures
(`Guarantees`) come from runs of this. Binaries from .build/release, or --bin DIR.
"""
import argparse, http.client, json, os, random, shutil, signal, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak import eventually, free_port  # noqa: E402

DAY = "2018-12-19"


def post(connection, list_name):
    """The status of one `POST /add_entry`, or None when no answer came."""
    try:
        connection.request("POST", f"/add_entry?list={list_name}&date={DAY}&title=t", body=b"")
        answer = connection.getresponse()
        answer.read()
        return answer.status
    except (OSError, http.client.HTTPException):
        connection.close()
        return None


def write_each(port, names, threads=16):
    """Writes each list of `names` once through the node on `port`; the failures."""
    failures = []

    def writer(part):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for name in part:
            if post(connection, name) != 200:
                failures.append(name)
        connection.close()

    workers = [threading.Thread(target=writer, args=(names[i::threads],)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return failures


def peers(port):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/health")
        return json.loads(connection.getresponse().read())["nodes"]
    except (OSError, http.client.HTTPException, ValueError, KeyError):
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lists", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--after", type=float, default=15, help="seconds to go on after the nodes meet again")
    parser.add_argument("--bin", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "release"))
    parser.add_argument("--keep", action="store_true", help="keep the nodes' data and logs")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="heal-")
    mapper, ports = free_port(), [free_port(), free_port()]
    names = ["e1@localhost", "e2@localhost"]
    nodes = []
    try:
        for i in range(2):
            arguments = [f"{args.bin}/todo-node", "--name", names[i], "--http-port", str(ports[i]), "--mapper-port", str(mapper),
                         "--cookie", "heal", "--data-dir", f"{work}/data{i + 1}", "--tick-time", "4", "--server-idle-timeout", "3600"]
            if i == 1:
                arguments += ["--connect", names[0]]
            with open(f"{work}/{names[i]}.log", "w") as log:
                nodes.append(subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT))
        if not eventually(lambda: peers(ports[0]) == [names[1]], 30):
            sys.exit(f"the nodes did not meet; see {work}")
        lists = [f"heal_{i}" for i in range(1, args.lists + 1)]

        started = time.time()
        failed = write_each(ports[1], lists)
        print(f"{len(lists)} lists written through {names[1]} in {time.time() - started:.1f} s ({len(failed)} failed)")
        nodes[1].send_signal(signal.SIGSTOP)
        started = time.time()
        if not eventually(lambda: peers(ports[0]) == [], 30):
            sys.exit(f"{names[0]} did not drop {names[1]}")
        print(f"{names[1]} stopped; {names[0]} dropped it after {time.time() - started:.1f} s")
        started = time.time()
        failed = write_each(ports[0], lists)
        print(f"the same lists written through {names[0]} in {time.time() - started:.1f} s ({len(failed)} failed)")

        answers, stop = [], threading.Event()  # (time answered, seconds taken, status)

        def client(seed):
            rng = random.Random(seed)
            connection = http.client.HTTPConnection("127.0.0.1", ports[0], timeout=30)
            while not stop.is_set():
                begun = time.time()
                status = post(connection, rng.choice(lists))
                answers.append((time.time(), time.time() - begun, status))
                if status is None:
                    connection = http.client.HTTPConnection("127.0.0.1", ports[0], timeout=30)

        clients = [threading.Thread(target=client, args=(seed,)) for seed in range(args.clients)]
        for thread in clients:
            thread.start()
        time.sleep(2)
        resumed = time.time()
        nodes[1].send_signal(signal.SIGCONT)
        met = eventually(lambda: peers(ports[0]) == [names[1]], 60)
        # As /health tells it, which the heal's work on the first node may hold up too.
        print(f"{names[1]} went on; {names[0]}'s /health listed it again "
              f"{'after %.2f s' % (time.time() - resumed) if met else 'not within 60 s'}")
        time.sleep(args.after)
        stop.set()
        for thread in clients:
            thread.join()

        print("second  answers  slowest (s)  failed   (0 = the second node went on)")
        first, last = int(resumed) - 2, int(answers[-1][0])
        for second in range(first, last + 1):
            these = [answer for answer in answers if int(answer[0]) == second]
            slowest = max((taken for _, taken, _ in these), default=0)
            failures = sum(1 for *_, status in these if status != 200)
            print(f"{second - int(resumed):>6}  {len(these):>7}  {slowest:>11.3f}  {failures:>6}")
        after = [answer for answer in answers if answer[0] >= resumed]
        print(f"after the heal: {len(after)} answers, the slowest {max((t for _, t, _ in after), default=0):.3f} s, "
              f"{sum(1 for *_, s in after if s != 200)} not 200")
        for i in range(2):
            with open(f"{work}/{names[i]}.log") as log:
                text = log.read()
            lines = text.splitlines()
            timed_out = sum(1 for line in lines if "cannot read" in line)
            caught_up = [line for line in lines if "caught up" in line]
            print(f"{names[i]}: {timed_out} take-ins that could not read a copy; "
                  f"{len([l for l in lines if ' warning ' in l or ' error ' in l])} warnings and errors"
                  + (f"; last catch-up: {caught_up[-1][-120:]}" if caught_up else ""))
    finally:
        for process in nodes:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.terminate()
        for process in nodes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        subprocess.run(["pkill", "-KILL", "-f", f"mapper-daemon --mapper-port {mapper}$"])
        if args.keep:
            print(f"data and logs in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
