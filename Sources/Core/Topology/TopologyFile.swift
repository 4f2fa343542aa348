import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads a topology file whole, with a size bound, after checking that it is a regular file.
///
/// Topology is the pure core and does not import `Syscall`; this is the one read it does, for
/// ``TopologyLoader/load(path:limits:)``. It opens with `O_NONBLOCK` and checks the opened file
/// with `fstat`, so a FIFO is refused instead of blocking a reload forever, a link to
/// `/dev/zero` is refused instead of read without end, and a directory gets a message that says
/// so (issue 17: those printed `NSCocoaErrorDomain error 256` and "You don't have permission").
enum TopologyFile {
    static func read(path: String, limit: Int) throws(TopologyDiagnostics) -> Data {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw unreadable(path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw unreadable(path, errno: errno) }
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFREG else { throw notRegular(path, kind: kind) }
        if Int(st.st_size) > limit { throw tooLarge(path, size: "\(st.st_size) bytes", limit: limit) }
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
            if out.count > limit { throw tooLarge(path, size: "more than \(limit) bytes", limit: limit) }
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

    /// `size` is what is known of the file's length: `20000000 bytes`, or `more than N bytes`.
    static func tooLarge(_ path: String, size: String, limit: Int) -> TopologyDiagnostics {
        TopologyDiagnostics([Diagnostic(.tooLarge, at: at(path), keyPath: "",
                                        "the file is \(size); a topology file may hold at most \(limit) bytes",
                                        hint: "check that this is the topology file; a site of 20,000 VMs and 10,000 services is about 4 MiB")])
    }
}
