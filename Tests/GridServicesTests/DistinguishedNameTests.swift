import XCTest
@testable import GridServices
@testable import GridModel


final class DistinguishedNameTests: XCTestCase {
    func testPersonSubjectParsesIntoAttributesInOrder() throws {
        let dn = try DistinguishedName("/DC=org/DC=example/OU=People/CN=Jane Doe 12345")
        XCTAssertEqual(dn.attributes.map(\.key), ["DC", "DC", "OU", "CN"])
        XCTAssertEqual(dn.commonName, "Jane Doe 12345")
        XCTAssertEqual(dn.text, "/DC=org/DC=example/OU=People/CN=Jane Doe 12345")
    }

    func testServiceSubjectWithSlashInCommonNameIsOneAttribute() throws {
        let dn = try DistinguishedName("/DC=org/DC=doegrids/OU=Services/CN=http/fg5x1.fnal.gov")
        XCTAssertEqual(dn.commonName, "http/fg5x1.fnal.gov")
        XCTAssertEqual(dn.attributes.count, 4)
    }

    func testUTF8ValuesAreAccepted() throws {
        XCTAssertEqual(try DistinguishedName("/C=DE/O=GridKa/CN=Jürgen Müller").commonName, "Jürgen Müller")
    }

    func testMalformedSubjectsAreRejectedWithTheirReason() {
        let cases: [(String, DNError.Code)] = [
            ("", .empty),
            ("DC=org/CN=x", .missingLeadingSlash),
            ("/DC=org//CN=x", .emptyAttribute),
            ("/DC=org/CN=x/", .emptyAttribute),
            ("/XX=org/CN=x", .unknownAttribute),
            ("/DC=org/CN=", .emptyValue),
            ("/DC=org/CN= padded", .blankPadding),
            ("/DC=org/OU=People", .missingCommonName),
            ("/DC=org/CN=a\u{0}b", .controlCharacter),
            ("/DC=org/CN=line\nbreak", .controlCharacter),
            ("/CN=" + String(repeating: "x", count: 600), .tooLong),
        ]
        for (text, code) in cases {
            XCTAssertThrowsError(try DistinguishedName(text), "accepted \(text.debugDescription)") { error in
                XCTAssertEqual((error as? DNError)?.code, code, "for \(text.debugDescription): \(error)")
            }
        }
    }

    func testErrorDescriptionNamesCodeAndOffset() {
        do {
            _ = try DistinguishedName("/DC=org/XX=y/CN=z")
            XCTFail("accepted an unknown attribute")
        } catch {
            XCTAssertEqual(error.code, .unknownAttribute)
            XCTAssertEqual(error.offset, 8)
            XCTAssertTrue(error.description.contains("'XX'"), error.description)
        }
    }
}

final class FQANTests: XCTestCase {
    func testRoleNullAndCapabilityNullNormaliseAway() throws {
        XCTAssertEqual(try FQAN("/cms/Role=NULL/Capability=NULL").description, "/cms")
        XCTAssertEqual(try FQAN("/cms/uscms/Role=production").description, "/cms/uscms/Role=production")
    }

    func testFallbacksGoFromMostToLeastSpecific() throws {
        XCTAssertEqual(try FQAN("/cms/uscms/higgs/Role=pilot").fallbacks,
                       ["/cms/uscms/higgs/Role=pilot", "/cms/uscms/higgs", "/cms/uscms", "/cms"])
        XCTAssertEqual(try FQAN("/atlas").fallbacks, ["/atlas"])
    }

    func testMalformedFQANsAreRejected() {
        for bad in ["cms", "/", "/cms//x", "/cms/Role=a/Role=b", "/cms/Role=prod/extra", "/cms/Capability=x", "/c ms", "/cms/Role="] {
            XCTAssertThrowsError(try FQAN(bad), "accepted \(bad)")
        }
    }
}
