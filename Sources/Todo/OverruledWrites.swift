import Cluster
import Processes

/// In an overlapping partition (two nodes cut from each other, both still connected to this
/// one) each side may run a server for one list. This node keeps one of them (the global
/// registry's resolver) and sends its requests there, but the other's node cannot hear of
/// that and goes on taking writes, and storing them here. The kept server lacked them until
/// the cut healed: a writer whose write the losing server took through this node missed it
/// in its next reads, for seconds (the partition soak with `--links`). So what a peer stores
/// here for a list whose server this node knows on another node is handed to that server
/// before the peer is answered, and so before the write itself is: the next request through
/// this node finds it there. A failure only logs: the hand-over and catch-up after the heal
/// bring it too. In a cluster without a cut, a list's changes come from its server's node.
enum OverruledWrites {
    /// How long the kept server has to take a change before the peer is answered anyway.
    static let timeout = Duration.seconds(1)

    /// Hands the kept servers the `changes` that `sender` stored here from servers this node
    /// does not send their lists' requests to.
    static func handOn(_ changes: [NamedChange], storedFrom sender: NodeName, database: TodoDatabase, context: ProcessContext) async {
        let global = database.node.global
        for change in changes {
            guard let server = global.whereis(TodoServer.globalName(change.name)), server.node != sender.description else { continue }
            do {
                _ = try await context.call(server, TodoServer.Request.merge(change.change), replyType: TodoServer.Reply.self, timeout: timeout)
            } catch {
                database.node.logger.info("list \(change.name): its server on \(server.node) did not take a write \(sender) stored here (\(error)); the hand-over will bring it")
            }
        }
    }
}
