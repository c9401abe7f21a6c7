import Cluster
import Processes

/// In an overlapping partition (two nodes cut from each other, both still connected to this
/// one) each side may run a server for one list. This node keeps one of them (the global
/// registry's resolver) and sends its requests there, but the other's node cannot hear of
/// that and goes on taking writes, and storing them here. The kept server lacked them until
/// the cut healed: a writer whose write the losing server took through this node missed it
/// in its next reads, for seconds (the partition soak with `--links`). So what a peer stores
/// here for a list whose server there this node overruled goes to the kept server as a merge
/// before the peer is answered, and so before the write itself is: a request through this
/// node that follows comes to the server behind it (one connection, in order).
///
/// The merge is not waited for: being sent first puts it ahead of those requests, and the
/// losing server's write, answered once this node has answered, need not wait for the kept
/// server's commit as well (nor for its timeout, when that server does not answer).
enum OverruledWrites {
    /// Sends the kept servers the `changes` that `sender` stored here for lists whose server
    /// on `sender` this node overruled.
    static func handOn(_ changes: [NamedChange], storedFrom sender: NodeName, global: GlobalNames, context: ProcessContext) {
        for change in changes {
            guard let server = global.kept(TodoServer.globalName(change.name), overOneOn: sender.description) else { continue }
            // A call whose answer nobody takes: the server's mailbox keeps calls in order.
            let call = CallFrom(caller: context.pid, tag: context.runtime.makeRef())
            context.send(CallMessage(from: call, request: TodoServer.Request.mergeOverruled(change.change)), to: server)
        }
    }
}
