import Foundation
import Keepalived
import XCTest

/// keepalived.conf read as keepalived 2.2.7's lib/parser.c reads it, on real files and glob(3).
final class ReaderTests: XCTestCase {
    func testCommentsQuotesAndBracesAsKeepalivedReadsThem() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try write("""
        ! leading comment
        global_defs {   # on the opening line
          router_id "lb one"   ! a router
          notification_email { a@b c@d }
        }
        vrrp_instance VI_1
        {
          virtual_ipaddress {
            10.0.0.1/32 dev eth0
          }
          # before the closing brace
        }
        word \\!literal "quoted # not a comment"
        # the end
        """, "keepalived.conf", in: dir)
        let c = try reader().read(path)
        XCTAssertEqual(c.problems, [])
        XCTAssertEqual(c.statements.map(\.keyword), ["global_defs", "vrrp_instance", "word"])
        let g = c.statements[0]
        XCTAssertEqual(g.comments.map(\.text), ["leading comment", "on the opening line"])
        XCTAssertEqual(g.child("router_id")?.words, ["router_id", "lb one"])
        XCTAssertEqual(g.child("router_id")?.comments.map(\.text), ["a router"])
        XCTAssertEqual(g.child("router_id")?.location.line, 3)
        XCTAssertEqual(g.child("notification_email")?.block?.map(\.words), [["a@b", "c@d"]], "words up to the end of the line make one statement")
        let v = c.statements[1]
        XCTAssertEqual(v.child("virtual_ipaddress")?.block?.first?.words, ["10.0.0.1/32", "dev", "eth0"], "a '{' on its own line opens the block")
        XCTAssertEqual(v.closingComments.map(\.text), ["before the closing brace"])
        XCTAssertEqual(c.statements[2].words, ["word", "!literal", "quoted # not a comment"])
        XCTAssertEqual(c.trailingComments.map(\.text), ["the end"])
    }

    func testIncludesFollowGlobsRelativeToTheIncludingFile() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let main = try write("global_defs {\n  router_id main\n}\ninclude conf.d/*.conf\ninclude missing/*.conf\n", "etc/keepalived.conf", in: dir)
        try write("virtual_server 10.0.0.2 80 {\n}\n", "etc/conf.d/b.conf", in: dir)
        try write("virtual_server 10.0.0.1 80 {\n  include ../parts/{x,y}.part\n}\n", "etc/conf.d/a.conf", in: dir)
        try write("lb_algo rr\n", "etc/parts/x.part", in: dir)
        try write("lb_kind DR\n", "etc/parts/y.part", in: dir)
        let c = try reader().read(main)
        XCTAssertEqual(c.statements.map { $0.words.joined(separator: " ") }, ["global_defs", "virtual_server 10.0.0.1 80", "virtual_server 10.0.0.2 80"],
                       "glob(3) order; an include inside a block splices into it")
        XCTAssertEqual(c.statements[1].block?.map(\.keyword), ["lb_algo", "lb_kind"], "{x,y}: GLOB_BRACE, relative to a.conf's directory")
        XCTAssertEqual(c.statements[1].block?.first?.location, KeepalivedLocation(file: "\(dir)/etc/conf.d/../parts/x.part", line: 1))
        XCTAssertEqual(c.files.count, 5)
        XCTAssertEqual(c.problems.count, 1)
        XCTAssertEqual(c.problems.first?.location, KeepalivedLocation(file: main, line: 5))
        XCTAssertTrue(c.problems.first?.message.contains("no file matches \(dir)/etc/missing/*.conf") ?? false, "\(c.problems)")
    }

    func testAnIncludeCycleStopsAtTheDepthLimit() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try write("vrrp_script chk {\n}\ninclude self.conf\n", "self.conf", in: dir)
        let c = try reader().read(path)
        XCTAssertEqual(c.statements.count, 33, "the file, then 32 nested includes of it")
        XCTAssertEqual(c.problems.count, 1)
        XCTAssertTrue(c.problems[0].message.contains("more than 32 nested includes"), "\(c.problems)")
    }

    func testConditionalLinesAndDefinitions() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try write("""
        $VIP=10.0.0.1
        @high priority 170
        @low priority 85
        @^high priority 10
        virtual_server $VIP 80 {
          sorry_server ${VIP}9 80
          real_server $UNKNOWN 80
        }
        """, "k.conf", in: dir)
        let none = try reader().read(path)
        XCTAssertEqual(none.statements.map(\.words), [["priority", "10"], ["virtual_server", "10.0.0.1", "80"]])
        XCTAssertEqual(none.statements[1].block?.map(\.words), [["sorry_server", "10.0.0.19", "80"], ["real_server", "$UNKNOWN", "80"]])
        XCTAssertEqual(none.problems.map(\.location.line), [2, 3], "each skipped @ line is named")
        XCTAssertTrue(none.problems[0].message.contains("applies only with keepalived -i high"), "\(none.problems)")
        let high = try reader(configID: "high").read(path)
        XCTAssertEqual(high.statements.first?.words, ["priority", "170"])
        XCTAssertEqual(high.problems.map(\.location.line), [3, 4])
    }

    func testUnbalancedBracesAreNamedWithTheirLines() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try write("}\nvirtual_server 10.0.0.1 80 {\n  real_server 10.0.0.2 80 {\n", "k.conf", in: dir)
        let c = try reader().read(path)
        XCTAssertEqual(c.problems.map(\.location.line), [1, 3, 2])
        XCTAssertEqual(c.statements.first?.block?.first?.keyword, "real_server", "unclosed blocks are closed at the end, their content kept")
    }

    func testAnUnreadableMainFileThrows() {
        XCTAssertThrowsError(try reader().read("/nonexistent/keepalived.conf"))
    }
}
