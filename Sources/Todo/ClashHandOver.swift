import Cluster
import Processes

/// After a heal, the server that keeps a list may lack writes that the losing one took
/// before its side heard of the clash, until the loser hands its copy over; a request
/// through a node that stored some of them (its own writers' among them) then missed them
/// (the partition soak: a writer's own entry missing from a read through its node, which
/// had settled the clash before the kept server's node had even met the loser's). So a node
/// that settled a list's clash hands the kept server its own copy of the list: before the
/// first request for the list through the node (`TodoSystem.perform`, from the request's
/// process, so the copy arrives first; on the kept server's own node too, whose copy holds
/// what the loser stored there once the nodes met, and whose reads skip the shelf until
/// then), and for every list still noted after the node's
/// catch-up (`handOverAll`), so that the kept server has the copy whether or not a request
/// comes through this node, and no note stays behind (each costs memory and a lookup per
/// read until it goes). A failure only logs: the loser's hand-over and catch-up bring the
/// writes too.
enum ClashHandOver {
    /// Hands `list`'s copy on this node to `server` when this node settled a clash for the
    /// list keeping `server` and has not handed it yet; then marks the clash handled. False
    /// when the server did not take it.
    @discardableResult
    static func handOwnCopy(of list: String, to server: Pid, database: TodoDatabase, context: ProcessContext,
                            timeout: Duration) async -> Bool {
        let global = database.node.global
        // Asked before the name is made: a request makes it once already, for its lookup.
        guard global.hasSettledClashes else { return true }
        let name = TodoServer.globalName(list)
        guard global.settledClash(name, keeping: server) else { return true }
        guard let copy = await database.get(list) else {
            global.clashHandled(name, kept: server)
            return true
        }
        do {
            // In parts, as catch-up fetches a list: a copy past 64 MiB could not go whole.
            var after: EntryID?
            while true {
                let part = copy.part(after: after, maxBytes: database.answerBytes)
                _ = try await context.call(server, TodoServer.Request.merge(part.list.asChange), replyType: TodoServer.Reply.self,
                                           timeout: min(TodoDatabase.storeTimeout, timeout))
                if part.complete { break }
                after = part.list.records.last?.id
            }
            global.clashHandled(name, kept: server)
            return true
        } catch {
            database.node.logger.info("list \(list): its kept server did not take this node's copy (\(error)); the hand-over will bring it")
            return false
        }
    }

    /// `handOwnCopy` for every list whose clash this node noted, one at a time; names that
    /// are not lists' are left to their owners. After a server on a node fails to take a
    /// copy, the others on that node wait for the next round: one that does not answer holds
    /// the round up for one timeout, not one per list.
    static func handOverAll(database: TodoDatabase, context: ProcessContext) async {
        var failedNodes: Set<String> = []
        for (name, kept) in database.node.global.settledClashes() where !failedNodes.contains(kept.node) {
            guard let list = TodoServer.list(inGlobalName: name) else { continue }
            if await !handOwnCopy(of: list, to: kept, database: database, context: context, timeout: TodoDatabase.storeTimeout) {
                failedNodes.insert(kept.node)
            }
        }
    }
}
