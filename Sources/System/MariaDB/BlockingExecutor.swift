import Foundation

/// A fixed set of OS threads that run blocking calls, so libmariadb's blocking API never occupies
/// one of the few threads of Swift's cooperative pool (with 2 cores there are 2; two slow queries
/// would otherwise stall every task in the process).
///
/// Jobs run in FIFO order on whichever thread is free. Each `run` suspends the calling task and
/// resumes it from the worker thread when the job finishes.
public final class BlockingExecutor: @unchecked Sendable {
    // Safe to share: every mutable property below is read and written only while holding
    // `condition`, and the threads array is written once in `init` before any thread starts.
    private let condition = NSCondition()
    // Taken slots are set to nil so that neither an executed job nor what it captured is released
    // while `condition` is held: a release can run a deinit (e.g. a connection's), and that deinit
    // may call `submit`, which would deadlock on the non-recursive lock.
    private var queue: [(@Sendable () -> Void)?] = []
    private var head = 0
    private var accepting = true
    private var threads: [Thread] = []

    /// Number of worker threads: the most blocking calls that run at the same moment.
    public let threadCount: Int

    /// The executor connections use unless given another. 16 threads: enough for typical pools
    /// (calls beyond that wait in FIFO order), cheap because idle threads only sleep.
    public static let shared = BlockingExecutor(threadCount: 16, name: "tandem.mariadb")

    /// Starts `threadCount` threads named "<name>-<i>".
    public init(threadCount: Int, name: String) {
        precondition(threadCount > 0, "BlockingExecutor needs at least one thread")
        self.threadCount = threadCount
        for i in 0..<threadCount {
            let thread = Thread { self.workerLoop() }  // strong: threads keep the executor alive until shutdown()
            thread.name = "\(name)-\(i)"
            thread.stackSize = 1 << 20
            threads.append(thread)
        }
        for thread in threads { thread.start() }
    }

    /// Queues `job`; false if the executor has been shut down (the job will never run).
    @discardableResult
    public func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard accepting else { return false }
        queue.append(job)
        condition.signal()
        return true
    }

    /// Runs `body` on a worker thread and returns its result to the calling task.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let accepted = submit {
                continuation.resume(with: Result { try body() })
            }
            if !accepted { continuation.resume(throwing: BlockingExecutorError.shutDown) }
        }
    }

    /// Stops accepting jobs; queued jobs still run, then the threads exit.
    public func shutdown() {
        condition.lock()
        accepting = false
        condition.broadcast()
        condition.unlock()
    }

    private func workerLoop() {
        while true {
            condition.lock()
            while head == queue.count && accepting { condition.wait() }
            if head == queue.count {  // not accepting and drained
                condition.unlock()
                return
            }
            let job = queue[head]
            queue[head] = nil
            head += 1
            if head > 1024 && head * 2 > queue.count {  // drop taken (nil) slots now and then
                queue.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job?()
        }
    }
}

/// Errors of `BlockingExecutor` itself.
public enum BlockingExecutorError: Error, Sendable {
    /// `run` was called after `shutdown()`.
    case shutDown
}
