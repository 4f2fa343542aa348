// The one JSON configuration of the files VRRPTransport writes and reads: the status file and the
// replay record. Both go through Codable; nothing is built by string interpolation.
import Foundation
import Net

/// The shared encoder and decoder settings for ``VRRPStatus`` (`--status-file`) and ``ReplayRecordFile``.
///
/// Sorted keys and one line: a file is rewritten whole on every change, diffs of two snapshots are
/// readable, and `jq` reads it either way. Keys are spelled in each type's `CodingKeys` (snake case),
/// not by a key strategy, which would also rewrite dictionary keys such as drop codes.
public enum StatusJSON {
    /// A fresh encoder with the shared settings (`JSONEncoder` is not `Sendable`: one per use).
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    /// A fresh decoder with the shared settings.
    public static func decoder() -> JSONDecoder { JSONDecoder() }

    /// `value` as one line of JSON and a newline.
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        Array(try encoder().encode(value)) + [UInt8(ascii: "\n")]
    }

    /// Decodes `bytes` as a `T`.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try decoder().decode(type, from: Data(bytes))
    }
}

extension KeyedEncodingContainer {
    /// Encodes a duration as whole milliseconds (the `_ms` fields).
    mutating func encodeMilliseconds(_ d: Duration, _ key: Key) throws { try encode(d.wholeMilliseconds, forKey: key) }
}

extension KeyedDecodingContainer {
    /// Decodes whole milliseconds into a duration (the `_ms` fields).
    func decodeMilliseconds(_ key: Key) throws -> Duration { .milliseconds(try decode(Int64.self, forKey: key)) }
}
