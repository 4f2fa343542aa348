import CLibvirt
import Foundation
import Hosts

// One wrapper for every libvirt call this package makes. Each reads the thread's last libvirt
// error right after a failed call (libvirt keeps it per thread), turns it into a `LibvirtError`
// naming the C function and what it was called on, and traps on the error numbers that can only
// mean this module passed a dead pointer (VIR_ERR_INVALID_CONN, VIR_ERR_INVALID_DOMAIN).
// libvirt retries EINTR itself.

/// A libvirt object pointer (`virConnectPtr`, `virDomainPtr`) moved between threads. libvirt's
/// objects are reference counted and thread-safe; each of these is owned by one
/// ``HypervisorConnection`` (or freed before the call that made it returns).
struct LibvirtPointer: @unchecked Sendable {
    let raw: OpaquePointer
}

enum Libvirt {
    /// The process-wide libvirt setup, done once (a global `let` is initialised exactly once):
    /// `virInitialize` (required before threads use libvirt), a silent default error handler
    /// (libvirt's prints every error to stderr; ours are read per call instead), and the default
    /// event loop with a thread that runs it. The event loop must exist before a connection
    /// opens: keepalive, the close callback and domain events all run on it.
    static let runtime: Void = {
        guard virInitialize() == 0 else {
            fatalError("virInitialize failed: \(lastError("virInitialize", "libvirt").message)")
        }
        virSetErrorFunc(nil, silentErrorHandler)
        guard virEventRegisterDefaultImpl() == 0 else {
            fatalError("virEventRegisterDefaultImpl failed: \(lastError("virEventRegisterDefaultImpl", "libvirt").message)")
        }
        let thread = Thread {
            // The loop runs for the life of the process, like libvirtd's own. A failing
            // iteration (poll error) is retried after a pause so it cannot spin.
            while true {
                if virEventRunDefaultImpl() < 0 { usleep(10_000) }
            }
        }
        thread.name = "tandem.libvirt-events"
        thread.stackSize = 1 << 20
        thread.start()
    }()

    /// libvirt's error for the call that just failed on this thread.
    static func lastError(_ function: String, _ target: String) -> LibvirtError {
        var e = virError()
        let found = virCopyLastError(&e)
        defer { virResetError(&e) }
        guard found > 0 else {
            return LibvirtError(code: .libvirt, function: function, target: target, message: "failed without a libvirt error")
        }
        let message = e.message.map { String(cString: $0) } ?? "(no message from libvirt)"
        precondition(e.code != Int32(VIR_ERR_INVALID_CONN.rawValue) && e.code != Int32(VIR_ERR_INVALID_DOMAIN.rawValue),
                     "Hypervisor module bug: \(function) on \(target) was given a dead pointer: \(message)")
        return LibvirtError(code: classify(e.code), function: function, target: target,
                            errorNumber: e.code, errorDomain: e.domain, message: message)
    }

    static func classify(_ number: Int32) -> LibvirtError.Code {
        switch UInt32(bitPattern: number) {
        case VIR_ERR_NO_DOMAIN.rawValue: .noDomain
        case VIR_ERR_OPERATION_INVALID.rawValue: .operationInvalid
        case VIR_ERR_NO_CONNECT.rawValue, VIR_ERR_SYSTEM_ERROR.rawValue, VIR_ERR_RPC.rawValue,
             VIR_ERR_AUTH_FAILED.rawValue, VIR_ERR_OPERATION_TIMEOUT.rawValue: .connection
        case VIR_ERR_XML_ERROR.rawValue, VIR_ERR_XML_DETAIL.rawValue, VIR_ERR_DOM_EXIST.rawValue,
             VIR_ERR_CONFIG_UNSUPPORTED.rawValue: .definition
        default: .libvirt
        }
    }

    /// Runs a call that returns -1 on failure.
    @discardableResult
    static func check(_ function: String, _ target: @autoclosure () -> String, _ rc: Int32) throws(LibvirtError) -> Int32 {
        if rc < 0 { throw lastError(function, target()) }
        return rc
    }

    /// Runs a call that returns NULL on failure.
    static func check(_ function: String, _ target: @autoclosure () -> String, _ p: OpaquePointer?) throws(LibvirtError) -> OpaquePointer {
        guard let p else { throw lastError(function, target()) }
        return p
    }

    // MARK: - Connections

    /// `virConnectOpen`.
    static func connectOpen(_ uri: String) throws(LibvirtError) -> OpaquePointer {
        _ = runtime
        return try check("virConnectOpen", uri, virConnectOpen(uri))
    }
    /// `virConnSetErrorFunc`: this connection's errors are read per call, never printed.
    static func connSetErrorFunc(_ c: OpaquePointer) { virConnSetErrorFunc(c, nil, silentErrorHandler) }
    /// `virConnectSetKeepAlive`: after `interval` seconds of silence a ping, after `count` unanswered
    /// pings the connection is closed (and the close callback runs).
    static func connectSetKeepAlive(_ c: OpaquePointer, _ uri: String, interval: Int32, count: UInt32) throws(LibvirtError) {
        try check("virConnectSetKeepAlive", uri, virConnectSetKeepAlive(c, interval, count))
    }
    /// `virConnectRegisterCloseCallback`.
    static func connectRegisterCloseCallback(_ c: OpaquePointer, _ uri: String, _ cb: virConnectCloseFunc,
                                             _ opaque: UnsafeMutableRawPointer, _ free: virFreeCallback) throws(LibvirtError) {
        try check("virConnectRegisterCloseCallback", uri, virConnectRegisterCloseCallback(c, cb, opaque, free))
    }
    /// `virConnectUnregisterCloseCallback`.
    static func connectUnregisterCloseCallback(_ c: OpaquePointer, _ uri: String, _ cb: virConnectCloseFunc) throws(LibvirtError) {
        try check("virConnectUnregisterCloseCallback", uri, virConnectUnregisterCloseCallback(c, cb))
    }
    /// `virConnectDomainEventRegisterAny(VIR_DOMAIN_EVENT_ID_LIFECYCLE)` for every domain; the callback id.
    static func connectDomainEventRegisterLifecycle(_ c: OpaquePointer, _ uri: String, _ cb: virConnectDomainEventCallback,
                                                    _ opaque: UnsafeMutableRawPointer, _ free: virFreeCallback) throws(LibvirtError) -> Int32 {
        try check("virConnectDomainEventRegisterAny", uri, tandem_virConnectDomainEventRegisterLifecycle(c, cb, opaque, free))
    }
    /// `virConnectDomainEventDeregisterAny`.
    static func connectDomainEventDeregisterAny(_ c: OpaquePointer, _ uri: String, _ id: Int32) throws(LibvirtError) {
        try check("virConnectDomainEventDeregisterAny", uri, virConnectDomainEventDeregisterAny(c, id))
    }
    /// `virConnectClose`: drops this side's reference.
    static func connectClose(_ c: OpaquePointer, _ uri: String) throws(LibvirtError) {
        try check("virConnectClose", uri, virConnectClose(c))
    }
    /// `virConnectIsAlive`.
    static func connectIsAlive(_ c: OpaquePointer, _ uri: String) throws(LibvirtError) -> Bool {
        try check("virConnectIsAlive", uri, virConnectIsAlive(c)) == 1
    }
    /// `virConnectListAllDomains` (active and inactive). The caller owns the domains (``domainFree(_:)``).
    static func connectListAllDomains(_ c: OpaquePointer, _ uri: String) throws(LibvirtError) -> [OpaquePointer] {
        var list: UnsafeMutablePointer<virDomainPtr?>?
        let n = try check("virConnectListAllDomains", uri, virConnectListAllDomains(c, &list, 0))
        defer { free(list) }
        guard let list else { return [] }
        return (0..<Int(n)).compactMap { list[$0] }
    }

    // MARK: - Domains

    /// `virDomainGetName` (the string belongs to the domain object).
    static func domainGetName(_ d: OpaquePointer) -> String {
        virDomainGetName(d).map { String(cString: $0) } ?? ""
    }
    /// `virDomainGetState`: the `virDomainState` number.
    static func domainGetState(_ d: OpaquePointer, _ target: @autoclosure () -> String) throws(LibvirtError) -> Int32 {
        var state: Int32 = 0, reason: Int32 = 0
        try check("virDomainGetState", target(), virDomainGetState(d, &state, &reason, 0))
        return state
    }
    /// `virDomainIsPersistent`.
    static func domainIsPersistent(_ d: OpaquePointer, _ target: @autoclosure () -> String) throws(LibvirtError) -> Bool {
        try check("virDomainIsPersistent", target(), virDomainIsPersistent(d)) == 1
    }
    /// `virDomainGetAutostart`.
    static func domainGetAutostart(_ d: OpaquePointer, _ target: @autoclosure () -> String) throws(LibvirtError) -> Bool {
        var on: Int32 = 0
        try check("virDomainGetAutostart", target(), virDomainGetAutostart(d, &on))
        return on != 0
    }
    /// `virDomainSetAutostart`.
    static func domainSetAutostart(_ d: OpaquePointer, _ target: @autoclosure () -> String, _ on: Bool) throws(LibvirtError) {
        try check("virDomainSetAutostart", target(), virDomainSetAutostart(d, on ? 1 : 0))
    }
    /// `virDomainDefineXML`: the new (or updated) persistent domain; the caller frees it.
    static func domainDefineXML(_ c: OpaquePointer, _ target: @autoclosure () -> String, _ xml: String) throws(LibvirtError) -> OpaquePointer {
        try check("virDomainDefineXML", target(), virDomainDefineXML(c, xml))
    }
    /// `virDomainGetUUIDString`.
    static func domainGetUUIDString(_ d: OpaquePointer, _ target: @autoclosure () -> String) throws(LibvirtError) -> String {
        // VIR_UUID_STRING_BUFLEN: 36 characters and the NUL.
        var buffer = [CChar](repeating: 0, count: 37)
        try check("virDomainGetUUIDString", target(), virDomainGetUUIDString(d, &buffer))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    /// `virDomainLookupByName`; the caller frees it.
    static func domainLookupByName(_ c: OpaquePointer, _ target: @autoclosure () -> String, _ name: String) throws(LibvirtError) -> OpaquePointer {
        try check("virDomainLookupByName", target(), virDomainLookupByName(c, name))
    }
    /// `virDomainCreate`: starts a defined domain.
    static func domainCreate(_ d: OpaquePointer, _ target: @autoclosure () -> String) throws(LibvirtError) {
        try check("virDomainCreate", target(), virDomainCreate(d))
    }
    /// `virDomainDestroy`: stops a domain at once.
    static func domainDestroy(_ d: OpaquePointer, _ target: @autoclosure () -> String) throws(LibvirtError) {
        try check("virDomainDestroy", target(), virDomainDestroy(d))
    }
    /// `virDomainUndefine`: removes the definition.
    static func domainUndefine(_ d: OpaquePointer, _ target: @autoclosure () -> String) throws(LibvirtError) {
        try check("virDomainUndefine", target(), virDomainUndefine(d))
    }
    /// `virDomainFree`: drops this side's reference (never fails for a valid pointer).
    static func domainFree(_ d: OpaquePointer) { _ = virDomainFree(d) }
}

/// libvirt's default handler prints every error to stderr; errors are read per call instead.
let silentErrorHandler: virErrorFunc = { _, _ in }

extension DomainState {
    /// The state for libvirt's `virDomainState` number.
    init(libvirt state: Int32) {
        switch UInt32(bitPattern: state) {
        case VIR_DOMAIN_RUNNING.rawValue: self = .running
        case VIR_DOMAIN_BLOCKED.rawValue: self = .blocked
        case VIR_DOMAIN_PAUSED.rawValue: self = .paused
        case VIR_DOMAIN_SHUTDOWN.rawValue: self = .shuttingDown
        case VIR_DOMAIN_SHUTOFF.rawValue: self = .shutOff
        case VIR_DOMAIN_CRASHED.rawValue: self = .crashed
        case VIR_DOMAIN_PMSUSPENDED.rawValue: self = .suspended
        default: self = .noState
        }
    }
}

extension DomainLifecycle {
    /// The event for libvirt's `virDomainEventType` number (nil for one newer than this code).
    init?(libvirt event: Int32) {
        switch UInt32(bitPattern: event) {
        case VIR_DOMAIN_EVENT_DEFINED.rawValue: self = .defined
        case VIR_DOMAIN_EVENT_UNDEFINED.rawValue: self = .undefined
        case VIR_DOMAIN_EVENT_STARTED.rawValue: self = .started
        case VIR_DOMAIN_EVENT_SUSPENDED.rawValue: self = .suspended
        case VIR_DOMAIN_EVENT_RESUMED.rawValue: self = .resumed
        case VIR_DOMAIN_EVENT_STOPPED.rawValue: self = .stopped
        case VIR_DOMAIN_EVENT_SHUTDOWN.rawValue: self = .shutdown
        case VIR_DOMAIN_EVENT_PMSUSPENDED.rawValue: self = .pmSuspended
        case VIR_DOMAIN_EVENT_CRASHED.rawValue: self = .crashed
        default: return nil
        }
    }
}
