import Foundation
import Drill
import Synchronization
import Topology
#if canImport(Glibc)
import Glibc
#endif

/// Reads a topology file whole, with a size bound, after checking that it is a regular file.
///
/// The pure core (`Topology`, `Drill`) parses text; this module is where Tandem's YAML files are
/// read from disk, for ``TopologyLoader/load(path:limits:)`` and its siblings. It opens with `O_NONBLOCK` and checks the opened file
/// with `fstat`, so a FIFO is refused instead of blocking a reload forever, a link to
/// `/dev/zero` is refused instead of read without end, and a directory gets a message that says
/// so (Foundation alone printed `NSCocoaErrorDomain error 256` and "You don't have permission").
public enum TopologyFile {
    /// The whole file at `path`, at most `limit` bytes, or a located diagnostic.
    public static func read(path: String, limit: Int) throws(TopologyDiagnostics) -> Data {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw unreadable(path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw unreadable(path, errno: errno) }
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFREG else { throw notRegular(path, kind: kind) }
        if Int(st.st_size) > limit { throw TopologyDiagnostics.fileTooLarge(path, size: "\(st.st_size) bytes", limit: limit) }
        var out = Data()
        out.reserveCapacity(Int(st.st_size))
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let got = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw unreadable(path, errno: errno)
            }
            if got == 0 { return out }
            out.append(contentsOf: buffer[0..<got])
            // The file may grow while it is read (a writer appending): the bound holds regardless.
            if out.count > limit { throw TopologyDiagnostics.fileTooLarge(path, size: "more than \(limit) bytes", limit: limit) }
        }
    }

    private static func at(_ path: String) -> SourceLocation { SourceLocation(file: path, line: 1, column: 1) }

    private static func unreadable(_ path: String, errno e: Int32) -> TopologyDiagnostics {
        let hint: String
        switch e {
        case ENOENT: hint = "check the path: no file by that name exists"
        case EACCES, EPERM: hint = "make the file readable by this user, or run as one who can read it"
        case ENOTDIR: hint = "a part of the path is a file, not a directory; check the path"
        case ELOOP: hint = "the path goes through a loop of symbolic links; point it at the file itself"
        default: hint = "check the path and its permissions"
        }
        let reason = String(cString: strerror(e))
        return TopologyDiagnostics([Diagnostic(.unreadable, at: at(path), keyPath: "", "cannot read the file (\(reason))", hint: hint)])
    }

    private static func notRegular(_ path: String, kind: mode_t) -> TopologyDiagnostics {
        let what: String
        switch kind {
        case S_IFDIR: what = "a directory"
        case S_IFIFO: what = "a FIFO (named pipe)"
        case S_IFSOCK: what = "a socket"
        case S_IFCHR: what = "a character device"
        case S_IFBLK: what = "a block device"
        default: what = "not a regular file"
        }
        // Name a link's target: "site.yaml is a character device" alone would puzzle.
        var target = ""
        if let resolved = realpath(path, nil) {
            let r = String(cString: resolved)
            free(resolved)
            if r != path { target = " (it resolves to \(r))" }
        }
        let hint = kind == S_IFDIR
            ? "pass the topology's .yaml file, not the directory that holds it"
            : "pass a regular .yaml file: a topology is read whole, never from a pipe or a device"
        return TopologyDiagnostics([Diagnostic(.notRegularFile, at: at(path), keyPath: "", "the path is \(what), not a topology file\(target)", hint: hint)])
    }
}

extension TopologyLoader {
    /// Loads and validates the topology file at `path`: a regular file of at most
    /// ``TopologyLimits/maxFileBytes``.
    public static func load(path: String, limits: TopologyLimits = .standard) throws(TopologyDiagnostics) -> Topology {
        try loadDocument(path: path, limits: limits).topology
    }

    /// ``load(path:limits:)``, keeping source locations.
    public static func loadDocument(path: String, limits: TopologyLimits = .standard) throws(TopologyDiagnostics) -> TopologyDocument {
        try parse(data: try TopologyFile.read(path: path, limit: limits.maxFileBytes), file: path, limits: limits)
    }
}

extension DrillFileLoader {
    /// Loads the drill file at `path`, checking every reference against `topology`.
    public static func load(path: String, topology: Topology) throws(TopologyDiagnostics) -> DrillFile {
        try parse(data: try TopologyFile.read(path: path, limit: TopologyLimits.standard.maxFileBytes), file: path, topology: topology)
    }
}

extension TopologyLoader {
    /// Threads still reading a topology for ``load(path:limits:timeout:)``, abandoned ones included.
    private static let readersRunning = Atomic<Int>(0)

    /// ``load(path:limits:)`` for a running daemon's reload: the file is read and validated on a
    /// thread of its own, never on the threads that run health checks, the API or the reconcile
    /// loop, and the caller waits at most `timeout`. A load that takes longer is abandoned (its
    /// thread finishes and its result is dropped) and refused; while an abandoned one still runs, a
    /// new load is refused too, so hostile files cannot pile up threads. The size, depth and alias
    /// bounds of ``TopologyLimits`` hold as for every load.
    public static func load(path: String, limits: TopologyLimits = .standard, timeout: Duration) async throws(TopologyDiagnostics) -> Topology {
        let at = SourceLocation(file: path, line: 1, column: 1)
        guard readersRunning.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged else {
            throw TopologyDiagnostics([Diagnostic(.unreadable, at: at, keyPath: "",
                                                  "an earlier reload is still reading its file (it ran past its time bound and was abandoned)",
                                                  hint: "wait until it ends (the log says so), then reload again; check what makes the file slow to read with `tandemctl validate`")])
        }
        let outcome = await onOwnThread(timeout: timeout) {
            defer { readersRunning.subtract(1, ordering: .releasing) }
            return Result { () throws(TopologyDiagnostics) -> Topology in try load(path: path, limits: limits) }
        }
        guard let outcome else {
            throw TopologyDiagnostics([Diagnostic(.unreadable, at: at, keyPath: "",
                                                  "reading and validating the file took longer than \(timeout); it was abandoned",
                                                  hint: "check the file's size and aliases; `tandemctl validate FILE` reads it the same way")])
        }
        return try outcome.get()
    }
}

/// Where a value computed on its own thread stands: awaited, delivered, or given up on.
private enum ThreadSlot<T: Sendable> {
    case waiting(CheckedContinuation<T?, Never>?)
    case finished(T)
    case abandoned
}

/// The slot, shared by the thread, the waiting task and its cancellation handler.
private final class SlotBox<T: Sendable>: Sendable {
    let state = Mutex<ThreadSlot<T>>(.waiting(nil))
}

/// Runs `body` on a new thread and returns its value, or nil when `timeout` passes first (the
/// thread runs on; its value is dropped).
private func onOwnThread<T: Sendable>(timeout: Duration, _ body: @escaping @Sendable () -> T) async -> T? {
    let slot = SlotBox<T>()
    let thread = Thread {
        let value = body()
        let waiter = slot.state.withLock { s -> CheckedContinuation<T?, Never>? in
            guard case .waiting(let c) = s else { s = .abandoned; return nil }
            s = .finished(value)
            return c
        }
        waiter?.resume(returning: value)
    }
    // The YAML parser recurses; the depth bound of TopologyLimits keeps it within this.
    thread.stackSize = 16 << 20
    thread.start()
    return await withTaskGroup(of: T?.self) { group in
        group.addTask {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<T?, Never>) in
                    let ready = slot.state.withLock { s -> T?? in
                        switch s {
                        case .waiting: s = .waiting(c); return nil
                        case .finished(let v): return .some(v)
                        case .abandoned: return .some(nil)
                        }
                    }
                    if let ready { c.resume(returning: ready) }
                }
            } onCancel: {
                let waiter = slot.state.withLock { s -> CheckedContinuation<T?, Never>? in
                    switch s {
                    case .waiting(let c): s = .abandoned; return c
                    case .finished, .abandoned: return nil
                    }
                }
                waiter?.resume(returning: nil)
            }
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
