import NIOCore
import NIOPosix
import Synchronization

/// Runs Swift tasks on one SwiftNIO event loop, so that a check loop, its timer, its connect and its
/// answer all happen on the same thread: no hop between the cooperative pool, a timer thread and an
/// event loop for every check. (Measured: with a hop for each step a TCP check cost about 0.8 ms of
/// CPU on this machine, most of it in the kernel's scheduler; tens of thousands of checks on a
/// large site made that the daemon's idle load.)
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `loop` is itself thread-safe (EventLoop is Sendable); nothing else is stored.
    let loop: any EventLoop
    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }
}

/// The executors check loops run on: one per event loop of NIO's shared group, picked by a
/// stable index so members spread evenly.
enum CheckExecutors {
    static let all: [EventLoopTaskExecutor] = MultiThreadedEventLoopGroup.singleton.makeIterator().map { EventLoopTaskExecutor($0) }

    static func executor(_ index: Int) -> EventLoopTaskExecutor { all[index % all.count] }

    /// The loop a check should use: the one it runs on, else any of the shared group.
    static var currentLoop: any EventLoop { MultiThreadedEventLoopGroup.currentEventLoop ?? MultiThreadedEventLoopGroup.singleton.any() }
}

/// A continuation resumed exactly once by whichever comes first (the timer, the watch, or
/// cancellation); the others are undone by the cleanups registered with it.
final class FirstOf<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, Never>?
        var result: T?
        var cleanups: [@Sendable () -> Void] = []
    }
    private let state = Mutex(State())

    /// Parks `c`, or resumes it at once when something already fired.
    func park(_ c: CheckedContinuation<T, Never>) {
        let now: T? = state.withLock { s in
            if let r = s.result { return r }
            s.continuation = c
            return nil
        }
        if let now { c.resume(returning: now) }
    }

    /// Runs `undo` when the wait ends (at once if it already has).
    func onEnd(_ undo: @escaping @Sendable () -> Void) {
        let ended = state.withLock { s -> Bool in
            if s.result != nil { return true }
            s.cleanups.append(undo)
            return false
        }
        if ended { undo() }
    }

    /// Ends the wait with `value` unless it has ended already.
    func fire(_ value: T) {
        let (c, undo): (CheckedContinuation<T, Never>?, [@Sendable () -> Void]) = state.withLock { s in
            guard s.result == nil else { return (nil, []) }
            s.result = value
            let c = s.continuation, u = s.cleanups
            s.continuation = nil; s.cleanups = []
            return (c, u)
        }
        for u in undo { u() }
        c?.resume(returning: value)
    }
}
