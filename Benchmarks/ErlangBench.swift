import Foundation
import OSProcess

/// The reference issue 12 names beside raw ZeroMQ: distributed Erlang/OTP on this machine, in
/// the same run. Three nodes on this host, each an OS process (as ours are): a round trip
/// from the first to an echo process on the second, and `rpc:multicall` of a trivial
/// function to the two others (the book's multicall), each as a p50 and as the CPU time of
/// all three OS processes per operation. The nodes use an epmd of their own on a free port,
/// so a real one on 4369 is left alone. Skipped, with a line saying so, where Erlang is not
/// installed (`make bench` installs it: Debian's erlang-base).
enum ErlangBench {
    struct Figures: Equatable {
        var roundTripP50: Double
        var roundTripCPU: Double
        var multicallP50: Double
        var multicallCPU: Double
    }

    static let module = "todo_bench_erl"

    /// The Erlang side: `main([Dir, RoundTrips, Multicalls | Peers])` waits for the peers,
    /// times both operations after a warm-up of a fifth as many, and prints one line: the
    /// round trip's p50 (µs) and the CPU ticks it took (all three OS processes), then the
    /// same for the multicall. Then it stops the peers and itself. A node started with
    /// `-run` lives on when its function fails, so a failure, or two minutes, halts it.
    static let source = """
        -module(\(module)).
        -export([main/1, echo/0]).

        echo() -> receive {From, Message} -> From ! {self(), Message}, echo() end.

        main(Arguments) ->
            {ok, _} = timer:apply_after(120000, erlang, halt, [2]),
            try measure(Arguments)
            catch Class:Reason -> io:format("failed: ~p ~p~n", [Class, Reason]), erlang:halt(1)
            end.

        measure([Dir, RoundTrips, Multicalls | PeerNames]) ->
            Peers = [list_to_atom(Name) || Name <- PeerNames],
            ok = wait_for(Peers, erlang:monotonic_time(millisecond) + 30000),
            [true = rpc:call(Peer, code, add_patha, [Dir]) || Peer <- Peers],
            Echo = spawn(hd(Peers), ?MODULE, echo, []),
            Self = self(),
            RoundTrip = fun() -> Echo ! {Self, ping}, receive {Echo, ping} -> ok end end,
            Multicall = fun() -> {[1, 1], []} = rpc:multicall(Peers, erlang, abs, [-1]) end,
            Pids = [os:getpid() | [rpc:call(Peer, os, getpid, []) || Peer <- Peers]],
            {RoundTripP50, RoundTripTicks} = measured(list_to_integer(RoundTrips), RoundTrip, Pids),
            {MulticallP50, MulticallTicks} = measured(list_to_integer(Multicalls), Multicall, Pids),
            io:format("~.3f ~b ~.3f ~b~n", [RoundTripP50, RoundTripTicks, MulticallP50, MulticallTicks]),
            rpc:multicall(Peers, init, stop, []),
            init:stop().

        wait_for([], _Deadline) -> ok;
        wait_for([Peer | Rest] = Peers, Deadline) ->
            case net_adm:ping(Peer) of
                pong -> wait_for(Rest, Deadline);
                pang ->
                    case erlang:monotonic_time(millisecond) > Deadline of
                        true -> {no_answer_from, Peer};
                        false -> timer:sleep(50), wait_for(Peers, Deadline)
                    end
            end.

        measured(Count, Operation, Pids) ->
            _ = times(Count div 5, Operation, []),
            Before = ticks(Pids),
            Times = times(Count, Operation, []),
            {lists:nth(Count div 2 + 1, lists:sort(Times)), ticks(Pids) - Before}.

        times(0, _Operation, Times) -> Times;
        times(Left, Operation, Times) ->
            Start = erlang:monotonic_time(nanosecond),
            Operation(),
            times(Left - 1, Operation, [(erlang:monotonic_time(nanosecond) - Start) / 1000 | Times]).

        %% User and system time of the OS processes, in clock ticks (/proc/PID/stat, fields 14 and 15).
        ticks(Pids) ->
            lists:sum([begin
                {ok, Stat} = file:read_file("/proc/" ++ Pid ++ "/stat"),
                [_, Fields] = binary:split(Stat, <<") ">>),
                [_State, _Parent, _Group, _Session, _Tty, _Foreground, _Flags, _Minor, _MinorChildren,
                 _Major, _MajorChildren, User, System | _] = binary:split(Fields, <<" ">>, [global]),
                binary_to_integer(User) + binary_to_integer(System)
            end || Pid <- Pids]).

        """

    /// `name`'s path on `PATH`, if it is there.
    static func executable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Medians of `runs` runs, each on three fresh nodes; nil where Erlang is not installed.
    static func measure(runs: Int = 3, roundTrips: Int = 50_000, multicalls: Int = 25_000) throws -> Figures? {
        guard let erl = executable("erl"), let erlc = executable("erlc"), let epmd = executable("epmd") else { return nil }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("todo-bench-erlang-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let file = scratch.appendingPathComponent("\(module).erl")
        try source.write(to: file, atomically: true, encoding: .utf8)
        let compiled = try ChildProcess.run(erlc, ["-o", scratch.path, file.path])
        guard compiled.status == 0 else { throw BenchFailure("erlc failed: \(compiled.errors)\(compiled.output)") }
        var all: [Figures] = []
        for _ in 0..<runs {
            all.append(try run(erl: erl, epmd: epmd, directory: scratch.path, roundTrips: roundTrips, multicalls: multicalls))
        }
        return Figures(roundTripP50: median(all.map(\.roundTripP50)), roundTripCPU: median(all.map(\.roundTripCPU)),
                       multicallP50: median(all.map(\.multicallP50)), multicallCPU: median(all.map(\.multicallCPU)))
    }

    /// One run: an epmd on a free port, two peers, and the node that measures.
    private static func run(erl: String, epmd: String, directory: String, roundTrips: Int, multicalls: Int) throws -> Figures {
        let port = try freeBenchPort()
        let mapper = try ChildProcess(epmd, ["-port", String(port)])
        defer { _ = mapper.kill() }
        // A node whose epmd does not answer yet fails to start its distribution.
        let deadline = ContinuousClock.now + .seconds(10)
        while try ChildProcess.run(epmd, ["-port", String(port), "-names"]).status != 0 {
            guard ContinuousClock.now < deadline else { throw BenchFailure("epmd does not answer on port \(port)") }
            usleep(20_000)
        }
        var environment = ProcessInfo.processInfo.environment
        environment["ERL_EPMD_PORT"] = String(port)
        let cookie = UUID().uuidString
        func name(_ role: String) -> String { "todo_bench_\(role)_\(getpid())_\(port)@localhost" }
        func node(_ role: String) -> [String] {
            ["-sname", name(role), "-setcookie", cookie, "-noinput", "-start_epmd", "false"]
        }
        let peers = ["b", "c"]
        let peerProcesses = try peers.map { try ChildProcess(erl, node($0), environment: environment) }
        defer { for peer in peerProcesses where peer.isRunning { _ = peer.kill() } }
        let measured = try ChildProcess.run(
            erl, node("a") + ["-pa", directory, "-run", module, "main", directory, String(roundTrips), String(multicalls)]
                + peers.map(name),
            environment: environment)
        guard let figures = figures(from: measured.output, roundTrips: roundTrips, multicalls: multicalls,
                                    ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK)))) else {
            throw BenchFailure("the Erlang nodes gave no figures (status \(measured.status)): \(measured.output)\(measured.errors)")
        }
        return figures
    }

    /// The Erlang side's line (`p50 ticks p50 ticks`) as figures: the CPU ticks of all three OS
    /// processes over each operation's timed runs become microseconds per operation.
    static func figures(from output: String, roundTrips: Int, multicalls: Int, ticksPerSecond: Double) -> Figures? {
        guard roundTrips > 0, multicalls > 0, ticksPerSecond > 0 else { return nil }
        for line in output.split(whereSeparator: \.isNewline) {
            let words = line.split(separator: " ")
            let fields = words.compactMap { Double($0) }
            guard words.count == 4, fields.count == 4 else { continue }
            let perOperation = { (ticks: Double, count: Int) in ticks / ticksPerSecond / Double(count) * 1e6 }
            return Figures(roundTripP50: fields[0], roundTripCPU: perOperation(fields[1], roundTrips),
                           multicallP50: fields[2], multicallCPU: perOperation(fields[3], multicalls))
        }
        return nil
    }
}
