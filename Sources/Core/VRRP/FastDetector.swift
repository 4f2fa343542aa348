// A BFD-style fast failure detector (in the spirit of RFC 5880's asynchronous mode, not its wire format).
import Net

/// Inputs of the ``FastDetector``.
public enum FastDetectorEvent: Sendable, Equatable {
    /// Begin probing.
    case start(now: Duration)
    /// The probe timer reached its deadline.
    case timerFired(now: Duration)
    /// An authentic, fresh probe arrived from the peer.
    case probeReceived(sequence: UInt64, now: Duration)
    /// Stop probing.
    case stop
}

/// Outputs of the ``FastDetector``.
public enum FastDetectorAction: Sendable, Equatable {
    /// Send one probe with this sequence number.
    case sendProbe(sequence: UInt64)
    /// Arm the probe timer.
    case setTimer(deadline: Duration)
    /// Disarm the probe timer.
    case cancelTimer
    /// `missLimit` probe intervals passed without a probe from a peer that had been heard.
    case peerDown(misses: Int, lastHeard: Duration)
    /// The peer is heard again after being declared down.
    case peerUp
    /// This tick came `late` past its deadline, more than ``FastDetector/stallTolerance``: this
    /// process was not running, so the interval just past is no evidence about the peer. Misses are
    /// not counted for it and the count starts again (the edge logs and counts these).
    case ownStall(late: Duration)
}

/// Probes the peer every `probeInterval` and declares it down after `missLimit` intervals in a row
/// without a probe from it, all judged on time by our own clock.
///
/// **Our own stalls are not the peer's death.** On a loaded host the process running the detector
/// can itself go unscheduled for longer than the detection time. When it runs again, every interval
/// it slept through looks empty, although the peer may have sent on time (its probes can still sit
/// in the kernel's backlog behind ours). So each tick measures how late it fired against its own
/// deadline; a tick more than ``stallTolerance`` late is reported as ``FastDetectorAction/ownStall(late:)``
/// and restarts the miss count instead of adding to it: only `missLimit` consecutive ticks that
/// fired on time, with no probe between them, declare the peer down. This is the usual guard of
/// BFD implementations that run in user space (a detection timer that fires late is re-armed rather
/// than trusted). The cost: a real death during a stall is detected up to one stall later, and a
/// host that is stalled on every tick never detects with this detector (the VRRP timers still do).
///
/// The edge must drain every queued probe (``FastDetectorEvent/probeReceived(sequence:now:)``)
/// before it delivers a due ``FastDetectorEvent/timerFired(now:)``, so a probe that arrived while
/// the process slept is counted before the interval is judged.
///
/// Both directors run one and probe each other; only a backup acts on ``FastDetectorAction/peerDown``
/// (it feeds ``VRRPEvent/peerDownDetected(now:)`` to its ``VRRPStateMachine``). A peer never heard
/// is never declared down: the VRRP timers cover that case, and a detector that fired at startup
/// would start every pair in dual master.
public struct FastDetector: Sendable {
    /// Time between probes.
    public let probeInterval: Duration
    /// Intervals without a probe before the peer is declared down.
    public let missLimit: Int
    /// Whether the peer is currently considered up.
    public private(set) var peerUp = false
    /// Consecutive intervals without a probe.
    public private(set) var misses = 0
    /// When the last probe arrived.
    public private(set) var lastHeard: Duration?
    /// How late past its deadline a tick may fire and still count as evidence.
    public let stallTolerance: Duration
    /// Ticks that came later than ``stallTolerance`` (our own stalls).
    public private(set) var stalls = 0
    /// The latest any tick has fired past its deadline.
    public private(set) var worstStall: Duration = .zero
    /// The longest time between two probes from the peer while it was up.
    public private(set) var worstGap: Duration = .zero
    private var deadline: Duration?
    private var heardSinceTick = false
    private var sequence: SequenceNumbers
    private var running = false

    /// A detector. `sequenceStart` should be the wall-clock time in microseconds (see ``SequenceNumbers``).
    /// `stallTolerance` (default: one `probeInterval`) is how late a tick may fire and still count.
    public init(probeInterval: Duration, missLimit: Int, sequenceStart: UInt64, stallTolerance: Duration? = nil) {
        precondition(missLimit >= 1 && probeInterval > .zero)
        self.probeInterval = probeInterval; self.missLimit = missLimit
        self.stallTolerance = stallTolerance ?? probeInterval
        self.sequence = SequenceNumbers(start: sequenceStart)
    }

    /// The worst-case detection time: `missLimit` full intervals after the last probe, plus one
    /// interval of phase between the peer's sending and our ticking.
    public var detectionTime: Duration { probeInterval * (missLimit + 1) }

    /// Applies one event.
    public mutating func on(_ event: FastDetectorEvent) -> [FastDetectorAction] {
        switch event {
        case .start(let now):
            guard !running else { return [] }
            running = true
            deadline = now + probeInterval
            return [.sendProbe(sequence: sequence.take()), .setTimer(deadline: now + probeInterval)]
        case .stop:
            guard running else { return [] }
            running = false
            deadline = nil
            return [.cancelTimer]
        case .probeReceived(_, let now):
            guard running else { return [] }
            if peerUp, let last = lastHeard, now - last > worstGap { worstGap = now - last }
            lastHeard = now
            heardSinceTick = true
            misses = 0
            if !peerUp { peerUp = true; return [.peerUp] }
            return []
        case .timerFired(let now):
            guard running, let due = deadline, now >= due else { return [] }  // stale or early: nothing
            let late = now - due
            deadline = now + probeInterval
            var out: [FastDetectorAction] = [.sendProbe(sequence: sequence.take()), .setTimer(deadline: now + probeInterval)]
            if late > worstStall { worstStall = late }
            if late > stallTolerance {
                // We were not running: the interval is no evidence either way. Start counting again.
                stalls += 1
                misses = 0
                heardSinceTick = false
                out.append(.ownStall(late: late))
            } else if heardSinceTick {
                heardSinceTick = false
            } else if peerUp, let last = lastHeard {
                misses += 1
                if misses >= missLimit {
                    peerUp = false
                    out.append(.peerDown(misses: misses, lastHeard: last))
                }
            }
            return out
        }
    }
}

/// The detector's probe: `"TDFD"` · VRID (1) · 3 zero bytes · sequence (8) · HMAC-SHA256 (32), 48 bytes,
/// sent over UDP. The tag covers the sender's address and the first 16 bytes, with the same key as the
/// authenticated adverts (an empty key when the pair runs without one: integrity, not authenticity).
public enum FastProbe {
    /// Magic and format version.
    public static let magic: [UInt8] = Array("TDFD".utf8)
    /// Encoded length.
    public static let length = 48
    /// Default UDP port.
    public static let defaultPort: UInt16 = 15798

    /// Encodes a probe. Throws what `authenticator` throws; the probe is then not sent.
    public static func encode(vrid: UInt8, sequence: UInt64, source: IPAddress, authenticator: some MessageAuthenticator) throws -> [UInt8] {
        let head = magic + [vrid, 0, 0, 0] + AuthenticatedAdvert.bigEndian(sequence)
        return head + (try authenticator.tag(source.bytes + head))
    }

    /// Decodes and authenticates a probe; returns its sequence number.
    public static func decode(_ bytes: [UInt8], vrid: UInt8, source: IPAddress, authenticator: some MessageAuthenticator)
        -> Result<UInt64, AuthenticationError>
    {
        guard bytes.count == length, Array(bytes[0..<4]) == magic else { return .failure(.missingTrailer) }
        let head = Array(bytes[0..<16])
        if case .failure(let e) = AuthenticatedAdvert.checkTag(bytes[16...], of: source.bytes + head, authenticator) { return .failure(e) }
        guard bytes[4] == vrid else { return .failure(.malformed(.wrongVRID(bytes[4]))) }
        var seq: UInt64 = 0
        for b in bytes[8..<16] { seq = seq << 8 | UInt64(b) }
        return .success(seq)
    }
}
