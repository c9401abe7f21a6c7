import Cluster
import Synchronization

/// A node's reads of its peers' copies of lists, for starting servers and take-ins: the asks
/// for one peer gathered into one `todo.fetch` while another is on its way to it
/// (`GatheredFetches`); a copy too big for one answer comes whole all the same, part after
/// part (its newest records are in its last parts: the first alone would lack what a node
/// that was away missed).
final class ListFetches: Sendable {
    /// One `todo.fetch` to a peer, with its timeout.
    typealias Fetch = @Sendable (NodeName, ListNames) async -> Result<ListCopies, RPCError>
    typealias Copy = Result<TodoList?, RPCError>
    private typealias Waiter = CheckedContinuation<Copy, Never>

    private let gathered: Mutex<GatheredFetches<Waiter>>
    private let fetch: Fetch

    /// An ask not sent within `timeout` fails as timed out.
    init(maxNames: Int, timeout: Duration, fetch: @escaping Fetch) {
        gathered = Mutex(GatheredFetches(maxNames: maxNames, timeout: timeout))
        self.fetch = fetch
    }

    /// `peer`'s copy of `name` (nil: it has none), or why it did not come.
    func copy(of name: String, from peer: NodeName) async -> Copy {
        await withCheckedContinuation { waiter in
            guard let batch = gathered.withLock({ $0.ask(name, of: peer, for: waiter, at: .now) }) else { return }
            Task { await send(batch) }
        }
    }

    /// How many asks for `peer` wait to go out.
    func waiting(for peer: NodeName) -> Int {
        gathered.withLock { $0.waiting(for: peer) }
    }

    /// Sends `batch`, then each batch gathered meanwhile, until none waits.
    private func send(_ batch: GatheredFetches<Waiter>.Batch) async {
        var next: GatheredFetches<Waiter>.Batch? = batch
        while let batch = next {
            let answer = await fetch(batch.peer, ListNames(names: batch.names))
            let (copies, uncovered) = Self.copies(in: answer, for: batch.names)
            let step = gathered.withLock { $0.answered(batch, uncovered: uncovered, at: .now) }
            next = step.batch
            for waiter in step.expired { waiter.resume(returning: .failure(.timeout)) }
            for (name, copy) in copies {
                let waiters = batch.asks[name, default: []].map(\.waiter)
                switch copy {
                case .whole(let copy):
                    for waiter in waiters { waiter.resume(returning: copy) }
                case .part(let first):
                    Task {
                        let whole = await rest(of: name, from: batch.peer, after: first)
                        for waiter in waiters { waiter.resume(returning: whole) }
                    }
                }
            }
        }
    }

    /// What an answer holds for each name asked: a whole copy (or none, or why it did not
    /// come), or the first part of one; and the names it did not reach, to ask again. An
    /// answer that makes no sense for the names asked fails them all.
    static func copies(in answer: Result<ListCopies, RPCError>, for names: [String]) -> (copies: [String: Answered], uncovered: [String]) {
        let failure: RPCError
        switch answer {
        case .failure(let error):
            failure = error
        case .success(let answer):
            guard answer.answers(names) else {
                failure = .badArguments("cannot read the answer: \(CatchUpError.notAnAnswer)")
                break
            }
            let part = answer.partial ? answer.lists.last : nil
            var copies = Dictionary(names.prefix(answer.covered).map { ($0, Answered.whole(.success(nil))) }, uniquingKeysWith: { first, _ in first })
            for list in answer.lists.dropLast(part == nil ? 0 : 1) { copies[list.name] = .whole(.success(list.list)) }
            if let part { copies[part.name] = .part(part.list) }
            return (copies, Array(names.dropFirst(answer.covered + (part == nil ? 0 : 1))))
        }
        return (Dictionary(names.map { ($0, Answered.whole(.failure(failure))) }, uniquingKeysWith: { first, _ in first }), [])
    }

    enum Answered {
        case whole(Copy)
        case part(TodoList)
    }

    /// `peer`'s copy of `name`, of which `first` is the first part, with the parts that
    /// follow it, asked for one after another. A peer whose parts make no headway has not
    /// answered.
    private func rest(of name: String, from peer: NodeName, after first: TodoList) async -> Copy {
        let noHeadway = RPCError.badArguments("cannot read the answer: \(CatchUpError.noHeadway(name))")
        var copy = first
        var partial = true
        var last = first.records.last?.id
        while partial {
            guard let after = last else { return .failure(noHeadway) }
            switch await fetch(peer, ListNames(names: [name], after: after)) {
            case .failure(let error):
                return .failure(error)
            case .success(let answer):
                guard let part = answer.lists.first(where: { $0.name == name })?.list,
                      part.records.first.map({ $0.id > after }) ?? !answer.partial
                else { return .failure(noHeadway) }
                _ = copy.merge(part)
                partial = answer.partial
                last = part.records.last?.id
            }
        }
        return .success(copy)
    }
}
