// libFuzzer entry point for the VRRP decoders. Not a SwiftPM target (it needs -sanitize=fuzzer, which
// the package must not impose on everyone): build and run it with scripts/fuzz-vrrp-decoder, which
// seeds it with Tests/VRRPTests/Corpus (the corpus CI replays in DecoderFuzzTests).
import Cryptography
import VRRP
import Net

private let v4 = (IPAddress("10.0.0.1")!, VRRPPacket.ipv4Group)
private let v6 = (IPAddress("fe80::1")!, VRRPPacket.ipv6Group)
/// The corpus manifest's key, so sealed seeds get past the tag and mutate the message inside.
private let key = HMACSHA256(key: Array("fuzz corpus key".utf8))

/// Feeds one input to every decoder; anything accepted must round-trip (``VRRPPacket/isEncoded(as:source:destination:)``).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for (s, d) in [v4, v6] {
        if case .success(let p) = VRRPPacket.decode(bytes, source: s, destination: d) {
            precondition(p.isEncoded(as: bytes, source: s, destination: d), "accepted packet does not round-trip")
        }
        if case .success(let (p, _)) = AuthenticatedAdvert.open(bytes, source: s, destination: d, authenticator: key) {
            let message = Array(bytes.prefix(bytes.count - AuthenticatedAdvert.trailerLength))
            precondition(p.isEncoded(as: message, source: s, destination: d), "accepted sealed packet does not round-trip")
        }
        _ = FastProbe.decode(bytes, vrid: 51, source: s, authenticator: key)
    }
    return 0
}
