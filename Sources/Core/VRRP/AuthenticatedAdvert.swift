// Tandem's authenticated advert: a plain VRRPv3 message followed by a sequence number and an HMAC.
import Net

/// The authenticated heartbeat format (not part of RFC 5798, which dropped authentication; §9).
///
/// On the wire it is the VRRPv3 message, unchanged, then a 44-byte trailer:
/// `"TDA1"` (4) · sequence number (8, big-endian) · HMAC-SHA256 (32).
/// The tag covers the sender's IP address, the VRRP message, the magic and the sequence number, so
/// neither the advert nor its claimed origin can be altered, and a copy replayed later is refused by
/// the receiver's ``ReplayGuard``. A plain VRRPv3 peer (keepalived) would refuse these packets
/// (their length does not match the address count), which is why this mode is all-or-nothing per pair.
public enum AuthenticatedAdvert {
    /// Marks the trailer and its format version.
    public static let magic: [UInt8] = Array("TDA1".utf8)
    /// Trailer length: magic, sequence number, tag.
    public static let trailerLength = 4 + 8 + 32

    /// Appends the trailer to an encoded VRRP message. Throws what `authenticator` throws (a
    /// library that cannot compute a tag at all); the advert is then not sent.
    public static func seal(_ message: [UInt8], source: IPAddress, sequence: UInt64,
                            authenticator: some MessageAuthenticator) throws -> [UInt8] {
        let head = magic + bigEndian(sequence)
        let tag = try authenticator.tag(source.bytes + message + head)
        return message + head + tag
    }

    /// Verifies the trailer, then decodes the VRRP message in front of it. The sequence number is
    /// returned for the caller's ``ReplayGuard``: this function has no memory.
    public static func open(_ bytes: [UInt8], source: IPAddress, destination: IPAddress, authenticator: some MessageAuthenticator)
        -> Result<(packet: VRRPPacket, sequence: UInt64), AuthenticationError>
    {
        guard bytes.count >= VRRPPacket.headerLength + trailerLength else { return .failure(.missingTrailer) }
        let split = bytes.count - trailerLength
        let message = Array(bytes[..<split])
        let trailer = Array(bytes[split...])
        guard Array(trailer[0..<4]) == magic else { return .failure(.missingTrailer) }
        let head = Array(trailer[0..<12])
        switch checkTag(trailer[12...], of: source.bytes + message + head, authenticator) {
        case .failure(let e): return .failure(e)
        case .success: break
        }
        var seq: UInt64 = 0
        for b in trailer[4..<12] { seq = seq << 8 | UInt64(b) }
        switch VRRPPacket.decode(message, source: source, destination: destination) {
        case .success(let p): return .success((p, seq))
        case .failure(let e): return .failure(.malformed(e))
        }
    }

    /// Verifies `tag`, failing closed: a tag that cannot be checked is refused like a wrong one, with
    /// the library's reason.
    static func checkTag(_ tag: ArraySlice<UInt8>, of message: [UInt8], _ authenticator: some MessageAuthenticator)
        -> Result<Void, AuthenticationError>
    {
        do { return try authenticator.verify(message, tag: tag) ? .success(()) : .failure(.badTag) } catch {
            return .failure(.authenticatorFailed("\(error)"))
        }
    }

    static func bigEndian(_ v: UInt64) -> [UInt8] { (0..<8).reversed().map { UInt8(truncatingIfNeeded: v >> (UInt64($0) * 8)) } }
}

/// Why an authenticated advert (or fast-detector probe) was dropped.
public enum AuthenticationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No Tandem trailer: a plain VRRP packet reached an authenticated instance, or it was cut short.
    case missingTrailer
    /// The HMAC does not match: forged, altered, or signed with another key.
    case badTag
    /// The sequence number is not newer than the last one accepted from this sender: a replay.
    case replayed(sequence: UInt64, lastAccepted: UInt64)
    /// The tag was right but the VRRP message inside was malformed.
    case malformed(VRRPDecodeError)
    /// The tag could not be checked at all: the authenticator's library failed (its reason). Refused.
    case authenticatorFailed(String)

    /// A stable counter name.
    public var code: String {
        switch self {
        case .missingTrailer: "auth_missing_trailer"
        case .badTag: "auth_bad_tag"
        case .replayed: "auth_replayed"
        case .malformed(let e): e.code
        case .authenticatorFailed: "auth_crypto_error"
        }
    }

    /// A human-readable reason.
    public var description: String {
        switch self {
        case .missingTrailer: "no authentication trailer"
        case .badTag: "HMAC mismatch (forged or wrong key)"
        case .replayed(let s, let l): "replayed sequence \(s) (last accepted \(l))"
        case .malformed(let e): "authenticated but malformed: \(e)"
        case .authenticatorFailed(let why): "tag could not be checked: \(why)"
        }
    }
}

/// Replay protection: remembers the highest sequence number accepted per sender and refuses anything
/// not strictly greater.
///
/// Senders start their sequence at the wall-clock time in microseconds (see ``SequenceNumbers``), so a
/// restarted sender continues above its old numbers and the receiver needs no reset.
///
/// **A restarted receiver keeps its memory.** A guard that started empty accepted the
/// first authentic advert it saw, and every later one of the same recording: ten recorded priority-200
/// adverts replayed to a restarted master moved it to backup, and nobody held the VIP for about 6.2 s.
/// So the guard's memory is a value, ``record``, that the edge stores after every accepted advert and
/// hands back to ``init(restoring:)`` at start (``ReplayRecord``; docs/director.md, "Replay after a
/// restart"). Anything captured before the last stored advert stays refused across a restart; what
/// remains open is only what was accepted after the last store finished (a crash in the middle of a
/// write). A receiver with no stored record (its first start, or the file deleted) is back to
/// trusting the first advert, and says so in its log.
///
/// Failure mode: a sender whose clock steps back by more than its downtime is refused until its clock
/// catches up, now across receiver restarts too; deleting the record file ends that (docs/director.md).
public struct ReplayGuard: Sendable {
    private var last: [IPAddress: UInt64] = [:]
    /// An empty guard: the first authentic sequence from each sender is accepted.
    public init() {}
    /// A guard that remembers what `record` says was accepted before (a previous run of this receiver).
    public init(restoring record: ReplayRecord) {
        for s in record.senders { last[s.address] = max(last[s.address] ?? 0, s.highestSequence) }
    }
    /// Accepts `sequence` from `sender` if it is newer than anything accepted before, and records it.
    /// Returns the accepted number, or why it was refused.
    public mutating func accept(_ sequence: UInt64, from sender: IPAddress) -> Result<UInt64, AuthenticationError> {
        if let l = last[sender], sequence <= l { return .failure(.replayed(sequence: sequence, lastAccepted: l)) }
        last[sender] = sequence
        return .success(sequence)
    }
    /// What the guard remembers, to store and restore across restarts.
    public var record: ReplayRecord {
        ReplayRecord(senders: last.sorted { $0.key < $1.key }.map { .init(address: $0.key, highestSequence: $0.value) })
    }
}

/// The memory of a ``ReplayGuard``: the highest sequence accepted from each sender. The edge keeps it
/// as a small JSON file beside the key file (`VRRPTransport`'s `ReplayRecordFile`).
public struct ReplayRecord: Codable, Sendable, Equatable {
    /// One sender and the highest sequence accepted from it.
    public struct Sender: Codable, Sendable, Equatable {
        /// The sender's source address (the one the tag covers).
        public var address: IPAddress
        /// The highest sequence number accepted from it.
        public var highestSequence: UInt64
        /// Creates an entry.
        public init(address: IPAddress, highestSequence: UInt64) { self.address = address; self.highestSequence = highestSequence }
        enum CodingKeys: String, CodingKey { case address, highestSequence = "highest_sequence" }
    }
    /// The senders, ordered by address.
    public var senders: [Sender]
    /// Creates a record.
    public init(senders: [Sender] = []) { self.senders = senders }
}

/// A monotonically increasing sequence source for one sender.
public struct SequenceNumbers: Sendable {
    private var next: UInt64
    /// Starts at `start`; pass the wall-clock time in microseconds so a restart never reuses numbers.
    public init(start: UInt64) { next = start }
    /// The next number.
    public mutating func take() -> UInt64 { defer { next &+= 1 }; return next }
}
