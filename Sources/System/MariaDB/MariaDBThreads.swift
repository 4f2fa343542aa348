import NIOPosix

/// The threads libmariadb's blocking calls run on: a swift-nio `NIOThreadPool`, the same kind of pool
/// the daemon's netlink session uses (Kernel.swift), so the package has one way to keep blocking C
/// calls off Swift's cooperative pool (with 2 cores it has 2 threads; two slow queries would otherwise
/// stall every task in the process).
///
/// Connections and pools use ``shared`` unless given another pool (tests that need isolation).
/// `runIfActive` suspends the calling task and resumes it from the pool thread when the call returns;
/// a task cancelled before its call started gets `CancellationError` and the call never runs.
public enum MariaDBThreads {
    /// 16 threads: enough for typical pools (calls beyond that wait in FIFO order), cheap because idle
    /// threads only sleep. Started once, for the life of the process (never shut down: connections
    /// may close from a `deinit` at any time).
    public static let shared: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 16)
        pool.start()
        return pool
    }()
}
