import Foundation

/// Runs `wait` (a blocking wait for another thread's work to end) on a thread of its own, and
/// returns once it has: the concurrency pool's threads, which every task and process of the
/// program shares, are never held by such a wait.
func waitOffThePool(_ wait: @escaping @Sendable () -> Void) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        Thread {
            wait()
            continuation.resume()
        }.start()
    }
}
