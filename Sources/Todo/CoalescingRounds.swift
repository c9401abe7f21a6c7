import Synchronization

/// A round of work that several tasks ask for but that must not overlap itself: one runs at a
/// time, and every ask made while it runs folds into one more round after it, so the work
/// still happens after the last ask. (Two peers that come up together each end their
/// catch-up with a round of hand-overs; run at once, both read and send the same copies.)
final class CoalescingRounds: Sendable {
    private struct State {
        var running = false
        var again = false
    }

    private let state = Mutex(State())

    /// Runs `round`, and again while asks came meanwhile; or, when a round runs already,
    /// leaves it to that one to run once more (its own `round`: they are the same work) and
    /// returns at once.
    func run(_ round: () async -> Void) async {
        let mine = state.withLock { state -> Bool in
            guard !state.running else {
                state.again = true
                return false
            }
            state.running = true
            return true
        }
        guard mine else { return }
        repeat {
            await round()
        } while state.withLock { state -> Bool in
            state.running = state.again
            state.again = false
            return state.running
        }
    }
}
