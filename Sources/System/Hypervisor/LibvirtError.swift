import Hosts

/// A failure of a libvirt call, with libvirt's own error (`virError`) kept whole.
///
/// Every C call of this module goes through one wrapper (see `Libvirt.swift`) that reads the
/// calling thread's last libvirt error right after the call, so the message, error number and
/// error domain are the ones libvirt (or the remote libvirtd) gave for *this* call.
public struct LibvirtError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable classification of the failure.
    public enum Code: String, Sendable, Equatable {
        /// The host could not be reached or the connection broke (VIR_ERR_NO_CONNECT,
        /// VIR_ERR_SYSTEM_ERROR, VIR_ERR_RPC, VIR_ERR_AUTH_FAILED, VIR_ERR_OPERATION_TIMEOUT).
        case connection
        /// The domain does not exist on that host (VIR_ERR_NO_DOMAIN).
        case noDomain = "no_domain"
        /// The domain is not in a state that allows the operation, e.g. start of a running
        /// domain (VIR_ERR_OPERATION_INVALID).
        case operationInvalid = "operation_invalid"
        /// The domain XML was refused (VIR_ERR_XML_ERROR, VIR_ERR_XML_DETAIL, VIR_ERR_DOM_EXIST…).
        case definition
        /// Anything else libvirt reported; ``errorNumber`` says what.
        case libvirt
        /// This side closed the connection (or never opened it) before the call.
        case notConnected = "not_connected"
        /// Opening the connection did not finish within its bound (a hung libvirtd accepts the
        /// socket but never answers).
        case timeout
    }

    /// What went wrong, in one stable word.
    public var code: Code
    /// The C function that failed, e.g. `virDomainCreate`.
    public var function: String
    /// What it was called on: the connection URI, or `uri domain NAME`.
    public var target: String
    /// libvirt's error number (`virErrorNumber`, VIR_ERR_*), 0 when libvirt gave none.
    public var errorNumber: Int32
    /// libvirt's error domain (`virErrorDomain`, VIR_FROM_*: which part of libvirt raised it).
    public var errorDomain: Int32
    /// libvirt's own message.
    public var message: String

    /// Creates an error.
    public init(code: Code, function: String, target: String, errorNumber: Int32 = 0, errorDomain: Int32 = 0, message: String) {
        self.code = code; self.function = function; self.target = target
        self.errorNumber = errorNumber; self.errorDomain = errorDomain; self.message = message
    }

    /// `virDomainCreate (lxc:///system?… domain vm1): Requested operation is not valid: domain is already running (VIR_ERR 55, VIR_FROM 10)`.
    public var description: String {
        let numbers = errorNumber == 0 && errorDomain == 0 ? "" : " (VIR_ERR \(errorNumber), VIR_FROM \(errorDomain))"
        return "\(function) (\(target)): \(message)\(numbers)"
    }
}

extension LibvirtError: HostCallError {
    /// libvirt said VIR_ERR_NO_DOMAIN.
    public var isNoDomain: Bool { code == .noDomain }
}
