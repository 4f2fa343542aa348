#if canImport(Glibc)
import Glibc
#endif

/// A failure of a libnl call or of the kernel behind it.
///
/// Every C call in this module goes through one wrapper (see `LibNL.swift`) that produces this
/// type, so callers always learn which operation failed and, when the kernel refused a request,
/// the kernel's own errno (obtained with a custom `NL_CB_ERR` handler, not libnl's lossy
/// `NLE_*` translation).
public struct NetlinkError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable classification of the failure.
    public enum Code: String, Sendable, Equatable {
        /// The kernel answered the request with a negative errno (see ``errno``).
        case kernel
        /// libnl itself failed (socket, memory, message too large); ``libnlCode`` says how.
        case libnl
        /// The generic netlink family is not registered: the kernel lacks the subsystem.
        case familyNotFound
        /// The kernel sent something this code could not parse.
        case malformedReply
        /// No answer arrived within the socket's receive timeout.
        case timeout
    }

    /// What went wrong, in one stable word.
    public var code: Code
    /// The C function or kernel command that failed, e.g. `genl_ctrl_resolve` or `IPVS_CMD_NEW_SERVICE`.
    public var operation: String
    /// The kernel's errno (positive, e.g. `EEXIST`) when ``code`` is `.kernel`, otherwise 0.
    public var errno: Int32
    /// libnl's `NLE_*` code (positive) when ``code`` is `.libnl`, otherwise 0.
    public var libnlCode: Int32
    /// Human-readable detail: the kernel's or libnl's own message, plus what to do.
    public var message: String

    /// Creates an error; prefer the static constructors.
    public init(code: Code, operation: String, errno: Int32 = 0, libnlCode: Int32 = 0, message: String) {
        self.code = code; self.operation = operation; self.errno = errno
        self.libnlCode = libnlCode; self.message = message
    }

    /// A kernel refusal: `errno` is the positive errno the kernel returned.
    public static func kernel(_ operation: String, errno: Int32) -> NetlinkError {
        NetlinkError(code: .kernel, operation: operation, errno: errno,
                     message: String(cString: strerror(errno)))
    }

    /// The same error, re-labelled with a more precise operation (e.g. the IPVS command and its target).
    public func relabelled(_ operation: String) -> NetlinkError {
        var e = self
        e.operation = operation
        return e
    }

    /// `operation: message (errno N)`.
    public var description: String {
        switch code {
        case .kernel: return "\(operation): \(message) (errno \(errno))"
        case .libnl: return "\(operation): \(message) (libnl error \(libnlCode))"
        default: return "\(operation): \(message)"
        }
    }
}
