#!/usr/bin/env python3
"""Where a request's task switches come from (not a test: it needs perf, root and a quiet
machine, and what it gives are counts that no test asserts).

  scripts/task_switches.py [--load posts|gets|mix] [--seconds 3] [--top 40] [--bin DIR]

Starts one node (a port mapper port and data of its own), puts a perf probe on the Swift
runtime's `swift_task_switch` that records the function each switch resumes (its first
argument, `%di`, under the swiftasync convention), drives the node with wrk as `make bench`
does (one thread, 32 connections, 1,000 lists), and prints the switches per request by the
function they resume. The README's counts (70 and 42 per POST, 35 and 32 per GET) come
from runs of this. Binaries from .build/release, or --bin DIR.
"""
import argparse, bisect, os, re, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak import eventually, free_port  # noqa: E402

RUNTIME = "/opt/swift/usr/lib/swift/linux/libswift_Concurrency.so"
PROBE = "probe_libswift_Concurrency:swift_task_switch"

LOADS = {
    "posts": 'return wrk.format("POST", "/add_entry?list=" .. list .. "&date=" .. date .. "&title=Task", nil, "")',
    "gets": 'return wrk.format("GET", "/entries?list=" .. list .. "&date=" .. date)',
}
LOADS["mix"] = f'if math.random() < 0.8 then {LOADS["gets"]} end\n  {LOADS["posts"]}'


def wrk_script(load):
    return f"""math.randomseed(os.time())
request = function()
  local list = "list_" .. math.random(1, 1000)
  local date = string.format("2018-12-%02d", math.random(1, 31))
  {LOADS[load]}
end
"""


def symbol_tables(pid):
    """Each executable mapping of `pid`: (start, end, file offset, path, sorted symbols)."""
    tables = []
    for line in open(f"/proc/{pid}/maps"):
        fields = line.split()
        if len(fields) < 6 or "x" not in fields[1]:
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        listed = subprocess.run(["nm", "--defined-only", fields[5]], capture_output=True, text=True).stdout
        listed += subprocess.run(["nm", "-D", "--defined-only", fields[5]], capture_output=True, text=True).stdout
        symbols = sorted({(int(parts[0], 16), parts[2]) for parts in (l.split() for l in listed.splitlines())
                          if len(parts) >= 3 and re.fullmatch(r"[0-9a-f]+", parts[0])})
        tables.append((start, end, int(fields[2], 16), os.path.basename(fields[5]), symbols))
    return tables


def name_of(address, tables):
    for start, end, offset, path, symbols in tables:
        if start <= address < end:
            # The text mappings of these files load at their own file offsets.
            index = bisect.bisect_right(symbols, (address - start + offset, "\uffff")) - 1
            return f"{symbols[index][1] if index >= 0 else '?'} [{path}]"
    return "?"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--load", choices=sorted(LOADS), default="posts")
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--bin", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "release"))
    args = parser.parse_args()
    for tool in ("perf", "wrk", "nm", "swift"):
        if shutil.which(tool) is None:
            sys.exit(f"task_switches.py: {tool} is needed")
    scratch = tempfile.mkdtemp(prefix="task-switches-")
    mapper, port = free_port(), free_port()
    node = None
    subprocess.run(["perf", "probe", "-q", "-d", PROBE], capture_output=True)
    try:
        subprocess.run(["perf", "probe", "-q", "-x", RUNTIME, "-a", "swift_task_switch resume=%di"], check=True)
        with open(os.path.join(scratch, "node.log"), "w") as log:
            node = subprocess.Popen([f"{args.bin}/todo-node", "--name", "switches@localhost", "--http-port", str(port),
                                     "--mapper-port", str(mapper), "--cookie", "switches", "--log-level", "warning",
                                     "--server-idle-timeout", "3600"], cwd=scratch, stdout=log, stderr=subprocess.STDOUT)
        up = f"curl -s -o /dev/null -w %{{http_code}} http://127.0.0.1:{port}/health"
        if not eventually(lambda: subprocess.run(up.split(), capture_output=True, text=True).stdout == "200", 30):
            sys.exit("task_switches.py: the node did not answer")
        script = os.path.join(scratch, "load.lua")
        with open(script, "w") as out:
            out.write(wrk_script(args.load))
        wrk = ["wrk", "-t1", "-c32", f"-d{args.seconds}s", "-s", script, f"http://127.0.0.1:{port}/"]
        subprocess.run(wrk, capture_output=True)  # lists made and warm before counting
        record = subprocess.Popen(["perf", "record", "-q", "-e", PROBE, "-p", str(node.pid), "-o", os.path.join(scratch, "perf.data")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        output = subprocess.run(wrk, capture_output=True, text=True).stdout
        record.send_signal(2)
        record.wait()
        requests = int(re.search(r"(\d+) requests in", output).group(1))
        events = subprocess.run(["perf", "script", "-i", os.path.join(scratch, "perf.data")], capture_output=True, text=True).stdout
        counts = {}
        for match in re.finditer(r"resume=0x([0-9a-f]+)", events):
            counts[int(match.group(1), 16)] = counts.get(int(match.group(1), 16), 0) + 1
        tables = symbol_tables(node.pid)
        by_name = {}
        for address, count in counts.items():
            name = name_of(address, tables)
            by_name[name] = by_name.get(name, 0) + count
        ranked = sorted(by_name.items(), key=lambda item: -item[1])
        names = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(n for n, _ in ranked),
                               capture_output=True, text=True).stdout.splitlines()
        print(f"{args.load}: {requests} requests, {sum(counts.values()) / requests:.1f} task switches each")
        for (_, count), name in list(zip(ranked, names))[:args.top]:
            print(f"{count / requests:6.2f}  {name[:160]}")
    finally:
        if node is not None and node.poll() is None:
            node.terminate()
            node.wait()
        subprocess.run(["perf", "probe", "-q", "-d", PROBE], capture_output=True)
        subprocess.run(["pkill", "-KILL", "-f", f"mapper-daemon --mapper-port {mapper}$"])
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
