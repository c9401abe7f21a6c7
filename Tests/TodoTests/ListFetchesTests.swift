import Cluster
import ClusterTestKit
import Synchronization
import Testing
@testable import Todo

@Suite struct ListFetchesTests {
    let p1 = NodeName(name: "p1", host: "h"), p2 = NodeName(name: "p2", host: "h")
    let start = ContinuousClock.now

    /// The first ask for a peer goes out at once; those made while it is on its way go
    /// together in the next request, one name once whoever asked it; once none is on its
    /// way, an ask goes out at once again. Each peer has its own.
    @Test func asksMadeWhileARequestIsOnItsWayGoTogetherInTheNext() throws {
        var gathered = GatheredFetches<Int>(maxNames: 10, timeout: .seconds(2))
        let asked = gathered.ask("a", of: p1, for: 1, at: start)
        let first = try #require(asked)
        #expect(first.names == ["a"] && first.asks["a"]?.map(\.waiter) == [1])
        #expect(gathered.ask("b", of: p1, for: 2, at: start) == nil)
        #expect(gathered.ask("c", of: p1, for: 3, at: start) == nil)
        #expect(gathered.ask("b", of: p1, for: 4, at: start) == nil)
        #expect(gathered.ask("a", of: p2, for: 5, at: start)?.names == ["a"])
        #expect(gathered.waiting(for: p1) == 3)

        let (second, expired) = gathered.answered(first, uncovered: [], at: start)
        #expect(second?.names == ["b", "c"] && expired.isEmpty)
        #expect(second?.asks["b"]?.map(\.waiter) == [2, 4] && second?.asks["c"]?.map(\.waiter) == [3])
        #expect(gathered.waiting(for: p1) == 0)
        let sent = try #require(second)
        #expect(gathered.answered(sent, uncovered: [], at: start).batch == nil)
        #expect(gathered.ask("d", of: p1, for: 6, at: start)?.names == ["d"])
    }

    /// A request holds at most `maxNames` names (the peer reads no more); the names an answer
    /// did not reach go first in the next, with whoever asked them, before those who asked
    /// for the same name meanwhile.
    @Test func aRequestIsBoundedAndTheNamesAnAnswerDidNotReachGoFirst() throws {
        var gathered = GatheredFetches<Int>(maxNames: 2, timeout: .seconds(2))
        let asked = gathered.ask("q", of: p1, for: 0, at: start)
        let first = try #require(asked)
        for (waiter, name) in ["x", "y", "z"].enumerated() { _ = gathered.ask(name, of: p1, for: waiter + 1, at: start) }
        let afterFirst = gathered.answered(first, uncovered: [], at: start).batch
        let second = try #require(afterFirst)
        #expect(second.names == ["x", "y"])
        #expect(gathered.ask("y", of: p1, for: 9, at: start) == nil)
        let afterSecond = gathered.answered(second, uncovered: ["y"], at: start).batch
        let third = try #require(afterSecond)
        #expect(third.names == ["y", "z"] && third.asks["y"]?.map(\.waiter) == [2, 9])
        #expect(gathered.answered(third, uncovered: [], at: start).batch == nil)
    }

    /// An ask that could not go out within the timeout fails unsent; the asks after it go.
    @Test func anAskNotSentWithinTheTimeoutFailsUnsent() throws {
        var gathered = GatheredFetches<Int>(maxNames: 10, timeout: .seconds(2))
        let asked = gathered.ask("a", of: p1, for: 1, at: start)
        let first = try #require(asked)
        _ = gathered.ask("b", of: p1, for: 2, at: start + .seconds(1))
        _ = gathered.ask("c", of: p1, for: 3, at: start + .seconds(3))
        _ = gathered.ask("b", of: p1, for: 4, at: start + .seconds(3))
        let (next, expired) = gathered.answered(first, uncovered: [], at: start + .milliseconds(3_500))
        #expect(expired == [2])
        #expect(next?.names == ["b", "c"] && next?.asks["b"]?.map(\.waiter) == [4])
        let sent = try #require(next)
        let (none, late) = gathered.answered(sent, uncovered: [], at: start + .seconds(4))
        #expect(none == nil && late.isEmpty)
    }

    /// What an answer holds for each name: a copy, none (covered but not held), the first
    /// part of one; the names after those it covers are asked again. An answer that does not
    /// fit the names asked, or a failed request, fails them all.
    @Test func anAnswerIsReadForEachNameAsked() throws {
        var list = TodoList()
        _ = list.add(date: try #require(TodoDate("2018-12-19")), title: "Dentist", by: "todo1", atMillis: 1)
        let names = ["a", "b", "c", "d"]
        let answer = ListCopies(lists: [NamedList(name: "b", list: list), NamedList(name: "c", list: list)], covered: 2, partial: true)
        let (copies, uncovered) = ListFetches.copies(in: .success(answer), for: names)
        #expect(uncovered == ["d"])
        #expect(copies.count == 3 && whole(copies["a"]) == .success(nil) && whole(copies["b"]) == .success(list))
        guard case .part(let part) = copies["c"] else { Issue.record("c is not a part: \(String(describing: copies["c"]))"); return }
        #expect(part == list)

        let short = ListFetches.copies(in: .success(ListCopies(lists: [], covered: 1)), for: names)
        #expect(short.uncovered == ["b", "c", "d"] && whole(short.copies["a"]) == .success(nil))

        let cannot = RPCError.badArguments("cannot read the answer: the answer does not answer the lists asked")
        for wrong in [
            ListCopies(lists: [NamedList(name: "d", list: list)], covered: 2),  // a list beyond those covered
            ListCopies(lists: [], covered: 5),  // more names than asked
            ListCopies(lists: [], covered: 0),  // no headway
            ListCopies(lists: [NamedList(name: "b", list: list)], covered: 0, partial: true),  // a part of a list not next
        ] {
            let read = ListFetches.copies(in: .success(wrong), for: names)
            #expect(read.uncovered.isEmpty && names.allSatisfy { whole(read.copies[$0]) == .failure(cannot) }, "\(wrong)")
        }
        let failed = ListFetches.copies(in: .failure(.timeout), for: names)
        #expect(failed.uncovered.isEmpty && names.allSatisfy { whole(failed.copies[$0]) == .failure(.timeout) })
    }

    /// Through a peer that holds its first answer back: the asks made meanwhile go in one
    /// request, each asker gets its own copy (or none), and the names the answer did not
    /// reach come in the request after; a list too big for an answer comes whole in parts.
    @Test func serversAskingAtOnceGetTheirCopiesFromFewRequests() async throws {
        var lists: [String: TodoList] = [:]
        for (name, count) in [("a", 1), ("b", 2), ("c", 3), ("big", 7)] {
            var list = TodoList()
            for index in 0..<count { _ = list.add(date: try #require(TodoDate("2018-12-19")), title: "\(name)\(index)", by: "p1@h", atMillis: 1) }
            lists[name] = list
        }
        let peer = HeldBackPeer(lists: lists, perAnswer: 2)
        let fetches = ListFetches(maxNames: 10, timeout: .seconds(60)) { _, names in await peer.answer(names) }
        let first = Task { await fetches.copy(of: "a", from: p1) }
        try await eventually("the first request is on its way") { await peer.requests.count == 1 }
        let others = ["b", "none", "c", "big", "b"].map { name in Task { (name, await fetches.copy(of: name, from: p1)) } }
        try await eventually("the others wait") { fetches.waiting(for: p1) == 5 }
        await peer.letGo()

        #expect(try await first.value.get() == lists["a"])
        for other in others {
            let (name, copy) = await other.value
            #expect(try copy.get() == lists[name], "\(name)")
        }
        let requests = await peer.requests
        #expect(requests.first?.names == ["a"])
        // The second holds every name asked meanwhile once; its answer reaches two at most, and
        // the next goes on with the rest, then the big list's parts.
        let second = try #require(requests.dropFirst().first?.names)
        #expect(Set(second) == ["b", "none", "c", "big"] && second.count == 4)
        #expect(requests.dropFirst(2).allSatisfy { Set($0.names).isSubset(of: second) }, "\(requests)")
        #expect(requests.contains { $0.names == ["big"] && $0.after != nil }, "the big list's parts")
    }

    private func whole(_ answered: ListFetches.Answered?) -> ListFetches.Copy? {
        guard case .whole(let copy) = answered else { return nil }
        return copy
    }
}

/// A peer for `ListFetches` that holds its answers back until let go, answers at most
/// `perAnswer` names, and sends a list of more than 4 records in parts.
private actor HeldBackPeer {
    private(set) var requests: [ListNames] = []
    private let lists: [String: TodoList]
    private let perAnswer: Int
    private var held: [CheckedContinuation<Void, Never>]? = []

    init(lists: [String: TodoList], perAnswer: Int) {
        self.lists = lists
        self.perAnswer = perAnswer
    }

    func letGo() {
        for waiter in held ?? [] { waiter.resume() }
        held = nil
    }

    func answer(_ request: ListNames) async -> Result<ListCopies, RPCError> {
        requests.append(request)
        if held != nil { await withCheckedContinuation { held?.append($0) } }
        var answer = ListCopies(lists: [], covered: 0)
        for name in request.names.prefix(perAnswer) {
            guard let list = lists[name] else {
                answer.covered += 1
                continue
            }
            guard list.records.count <= 4 else {
                let part = list.part(after: request.after, maxBytes: 3 * 40)
                answer.lists.append(NamedList(name: name, list: part.list))
                answer.partial = !part.complete
                if part.complete { answer.covered += 1 }
                break
            }
            answer.lists.append(NamedList(name: name, list: list))
            answer.covered += 1
        }
        return .success(answer)
    }
}
