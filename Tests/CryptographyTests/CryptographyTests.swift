import Cryptography
import XCTest

private func hex(_ s: String) -> [UInt8] {
    var out: [UInt8] = []; var it = s.makeIterator()
    while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
    return out
}
private func hexString(_ b: [UInt8]) -> String { b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }

/// FIPS 180-4 / NIST example vectors, through libcrypto's `EVP_Digest`.
final class SHA256Tests: XCTestCase {
    func testNISTVectors() throws {
        XCTAssertEqual(try SHA256.hex(Array("".utf8)), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(try SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(try SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(try SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testLengthsAroundTheBlockBoundary() throws {
        // 55, 56 and 64 bytes take the padding down different paths; values from `sha256sum`.
        XCTAssertEqual(try SHA256.hex([UInt8](repeating: 0x61, count: 55)), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
        XCTAssertEqual(try SHA256.hex([UInt8](repeating: 0x61, count: 56)), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a")
        XCTAssertEqual(try SHA256.hex([UInt8](repeating: 0x61, count: 64)), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
    }

    func testSliceAndArrayOfTheSameBytesHashAlike() throws {
        let bytes = Array("xxabcxx".utf8)
        XCTAssertEqual(try SHA256.hash(bytes[2..<5]), try SHA256.hash(Array("abc".utf8)))
        XCTAssertEqual(try SHA256.hash(bytes[2..<5]).count, SHA256.digestLength)
    }
}

/// RFC 4231 §4.2–§4.8, HMAC-SHA-256 column, through libcrypto's `HMAC`, and the tag check.
final class HMACSHA256Tests: XCTestCase {
    static let rfc4231: [(key: [UInt8], data: [UInt8], mac: String, truncate: Int?)] = [
        ([UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", nil),
        (Array("Jefe".utf8), Array("what do ya want for nothing?".utf8),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", nil),
        ([UInt8](repeating: 0xaa, count: 20), [UInt8](repeating: 0xdd, count: 50),
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", nil),
        (hex("0102030405060708090a0b0c0d0e0f10111213141516171819"), [UInt8](repeating: 0xcd, count: 50),
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", nil),
        ([UInt8](repeating: 0x0c, count: 20), Array("Test With Truncation".utf8),
         "a3b6167473100ee06e0c796c2955552b", 16),
        ([UInt8](repeating: 0xaa, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", nil),
        ([UInt8](repeating: 0xaa, count: 131),
         Array("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".utf8),
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", nil),
    ]

    func testRFC4231Vectors() throws {
        for (i, c) in Self.rfc4231.enumerated() {
            var mac = try HMACSHA256(key: c.key).tag(c.data)
            XCTAssertEqual(mac.count, 32, "RFC 4231 test case \(i + 2): full tag length")
            if let t = c.truncate { mac = Array(mac.prefix(t)) }
            XCTAssertEqual(hexString(mac), c.mac, "RFC 4231 test case \(i + 2)")
        }
    }

    func testVerifyAcceptsTheRightTagOnly() throws {
        for c in Self.rfc4231 where c.truncate == nil {
            let h = HMACSHA256(key: c.key)
            let tag = try h.tag(c.data)
            XCTAssertTrue(try h.verify(c.data, tag: tag[...]))
            for i in [0, 15, 31] {
                var bad = tag; bad[i] ^= 0x01
                XCTAssertFalse(try h.verify(c.data, tag: bad[...]), "a tag with byte \(i) flipped was accepted")
            }
            XCTAssertFalse(try h.verify(c.data, tag: tag.prefix(31)), "a short tag was accepted")
            XCTAssertFalse(try h.verify(c.data + [0], tag: tag[...]), "the tag of another message was accepted")
        }
    }

    /// The fast detector's key when a pair runs without one: OpenSSL must see an empty key, not "no key".
    /// Values from Python's `hmac.new(b"", MESSAGE, "sha256")`.
    func testEmptyKeyIsAKeyOfLengthZero() throws {
        XCTAssertEqual(hexString(try HMACSHA256(key: []).tag(Array("probe".utf8))),
                       "08b7aeea25fbb2e1c97126d4e37444c148f72f8a71098fb77f8e586fbbde4234")
        XCTAssertEqual(hexString(try HMACSHA256(key: []).tag([])),
                       "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    func testConstantTimeEqual() {
        XCTAssertTrue(ConstantTime.equal([], []))
        XCTAssertTrue(ConstantTime.equal([1, 2, 3], [1, 2, 3]))
        XCTAssertFalse(ConstantTime.equal([1, 2, 3], [1, 2, 4]))
        XCTAssertFalse(ConstantTime.equal([1, 2, 3], [1, 2]))
    }
}
