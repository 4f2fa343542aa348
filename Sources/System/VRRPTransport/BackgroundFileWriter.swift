// Writes the instance's files (the JSON status file, the replay record) on a thread of their own, so
// the VRRP loop never waits on disk.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Synchronization

/// Keeps one file up to date with the latest contents it was given: ``submit(_:)`` replaces the pending
/// contents and wakes a writer thread, which writes them to `path.tmp` and renames that over `path`
/// (a reader, or a restart after a crash, sees the old file or the new one, never half of one).
/// Intermediate contents may be skipped; the last one is always written.
///
/// Why not write from the loop: a `write`/`rename` on a busy disk can block for hundreds of
/// milliseconds (the kernel throttles writers when dirty pages pile up), and a master whose loop
/// blocks that long misses its adverts. The writer thread runs at normal priority.
///
/// `@unchecked Sendable` is safe: the pending contents and the stop flag are behind a `Mutex`; the
/// semaphores are thread-safe.
final class BackgroundFileWriter: @unchecked Sendable {
    private let path: String
    /// What the file is, for log lines (`status file`, `replay record`).
    private let what: String
    private let logger: Logger
    private let pending = Mutex<(bytes: [UInt8]?, stop: Bool)>((nil, false))
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let warned = Atomic<Bool>(false)
    private let worstNanos = Atomic<Int64>(0)

    /// The longest one write (open, write, close, rename) has taken: how long the loop would have
    /// stalled had it written the file itself.
    var worstWrite: Duration { .nanoseconds(worstNanos.load(ordering: .relaxed)) }

    init(path: String, what: String, logger: Logger) { self.path = path; self.what = what; self.logger = logger }

    /// Hands over the latest contents; returns at once.
    func submit(_ bytes: [UInt8]) {
        if stopped.load(ordering: .sequentiallyConsistent) { return }
        if !started.exchange(true, ordering: .sequentiallyConsistent) {
            let t = Thread { [self] in
                // Created by a loop thread that may run SCHED_FIFO: file I/O must not.
                RealtimeScheduling.lowerCurrentThread()
                run()
                finished.signal()
            }
            t.name = "vrrp-files"
            t.start()
        }
        pending.withLock { $0.bytes = bytes }
        wake.signal()
    }

    /// The last write: stops the writer thread, then writes `bytes` on the calling thread, so no
    /// older contents written by the thread can land after them. Later submits are ignored.
    func finish(with bytes: [UInt8]) {
        pending.withLock { $0.bytes = nil }
        stop()
        write(bytes)
    }

    /// Stops the writer thread (after it wrote what is pending); waits at most a second. Idempotent.
    func stop() {
        guard !stopped.exchange(true, ordering: .sequentiallyConsistent) else { return }
        guard started.load(ordering: .sequentiallyConsistent) else { return }
        pending.withLock { $0.stop = true }
        wake.signal()
        _ = finished.wait(timeout: .now() + 1)
    }

    private func run() {
        while true {
            wake.wait()
            let (bytes, stop) = pending.withLock { p in defer { p.bytes = nil }; return (p.bytes, p.stop) }
            if let bytes { write(bytes) }
            if stop { return }
        }
    }

    private func write(_ bytes: [UInt8]) {
        var t0 = timespec(), t1 = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t0)
        defer {
            clock_gettime(CLOCK_MONOTONIC, &t1)
            let ns = Int64(t1.tv_sec - t0.tv_sec) * 1_000_000_000 + Int64(t1.tv_nsec - t0.tv_nsec)
            if ns > worstNanos.load(ordering: .relaxed) {
                worstNanos.store(ns, ordering: .relaxed)
                if ns > 50_000_000 { logger.notice("\(what): slow write", metadata: ["ms": "\(ns / 1_000_000)", "path": "\(path)"]) }
            }
        }
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { warnOnce("cannot open \(tmp): \(String(cString: strerror(errno)))"); return }
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard n == bytes.count else { warnOnce("short write to \(tmp)"); return }
        if rename(tmp, path) != 0 { warnOnce("cannot rename \(tmp) to \(path): \(String(cString: strerror(errno)))") }
    }

    private func warnOnce(_ message: String) {
        if !warned.exchange(true, ordering: .sequentiallyConsistent) { logger.warning("\(what): \(message)") }
    }
}
