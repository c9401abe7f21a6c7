/// Why a name could not be registered (Erlang's `register/2` badarg cases, with words).
public enum RegistrationError: Error, Equatable, Sendable, CustomStringConvertible {
    case taken(by: Pid)
    case alreadyNamed(String)
    case notAlive

    public var description: String {
        switch self {
        case .taken(let pid): "the name is already registered to \(pid)"
        case .alreadyNamed(let name): "the process is already registered as \(name)"
        case .notAlive: "the process is not alive"
        }
    }
}

/// Local names (Erlang's `register`/`whereis`): one name per process, gone when it dies.
extension ProcessRuntime {
    public func register(_ name: String, _ pid: Pid) throws(RegistrationError) {
        guard let cell = cell(for: pid) else { throw .notAlive }
        let outcome: RegistrationError? = names.withLock { names in
            if let owner = names[name], owner.isAlive { return .taken(by: owner.pid) }
            let problem = cell.state.withLock { state -> RegistrationError? in
                guard state.alive else { return .notAlive }
                if let existing = state.name { return .alreadyNamed(existing) }
                state.name = name
                return nil
            }
            if problem == nil { names[name] = cell }
            return problem
        }
        if let outcome { throw outcome }
    }

    public func unregister(_ name: String) {
        let cell = names.withLock { $0.removeValue(forKey: name) }
        cell?.state.withLock { state in
            if state.name == name { state.name = nil }
        }
    }

    public func whereis(_ name: String) -> Pid? {
        guard let cell = names.withLock({ $0[name] }), cell.isAlive else { return nil }
        return cell.pid
    }

    /// The names registered here.
    public func registered() -> [String] {
        names.withLock { Array($0.keys) }.sorted()
    }

    /// Sends to a locally registered name; dropped when nothing has that name.
    public func send(_ message: any Sendable, toName name: String) {
        names.withLock { $0[name] }?.deliver(message)
    }

    /// Sends to `name` registered on `node` (Erlang's `send({name, node}, msg)`).
    public func send(_ message: any Sendable, toName name: String, on node: String) {
        if node == self.node {
            send(message, toName: name)
        } else {
            remoteRoutingForNames?.send(message, toName: name, on: node)
        }
    }
}
