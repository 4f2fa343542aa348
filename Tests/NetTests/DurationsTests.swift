import Net
import XCTest

/// The one place a Duration becomes a number: truncation, saturation, fractions and the texts.
final class DurationsTests: XCTestCase {
    func testWholeUnitsTruncateTowardZero() {
        XCTAssertEqual(Duration.microseconds(1900).wholeMilliseconds, 1)
        XCTAssertEqual(Duration.microseconds(-1900).wholeMilliseconds, -1)
        XCTAssertEqual(Duration.seconds(2).wholeMilliseconds, 2000)
        XCTAssertEqual(Duration.nanoseconds(1999).wholeMicroseconds, 1)
        XCTAssertEqual(Duration.milliseconds(1500).wholeMicroseconds, 1_500_000)
        XCTAssertEqual(Duration.seconds(3).wholeNanoseconds, 3_000_000_000)
        XCTAssertEqual((Duration.seconds(1) + .nanoseconds(7)).wholeNanoseconds, 1_000_000_007)
        XCTAssertEqual(Duration.zero.wholeMilliseconds, 0)
    }

    func testWholeUnitsSaturateInsteadOfTrapping() {
        let huge = Duration.seconds(Int64.max)
        XCTAssertEqual(huge.wholeMilliseconds, .max)
        XCTAssertEqual(huge.wholeMicroseconds, .max)
        XCTAssertEqual(huge.wholeNanoseconds, .max)
        XCTAssertEqual(Duration.seconds(Int64.min).wholeNanoseconds, .min)
        // Just past what fits in nanoseconds (about 292 years).
        XCTAssertEqual(Duration.seconds(Int64.max / 1_000_000_000 + 1).wholeNanoseconds, .max)
    }

    func testFractions() {
        XCTAssertEqual(Duration.microseconds(1250).inMilliseconds, 1.25, accuracy: 1e-12)
        XCTAssertEqual(Duration.microseconds(1250).inSeconds, 0.00125, accuracy: 1e-15)
        XCTAssertEqual(Duration.seconds(90).inSeconds, 90)
        XCTAssertEqual(Duration.milliseconds(-250).inSeconds, -0.25, accuracy: 1e-15)
        XCTAssertEqual(Duration.seconds(0.125).inMilliseconds, 125, accuracy: 1e-9, "the inverse of Duration.seconds(Double)")
    }

    func testHumanReadablePicksTheUnitAndDigits() {
        XCTAssertEqual(Duration.microseconds(850).humanReadable, "850 µs")
        XCTAssertEqual(Duration.microseconds(1250).humanReadable, "1.25 ms")
        XCTAssertEqual(Duration.microseconds(12_340).humanReadable, "12.3 ms")
        XCTAssertEqual(Duration.milliseconds(2500).humanReadable, "2.50 s")
        XCTAssertEqual(Duration.seconds(-2).humanReadable, "-2.00 s")
    }

    func testFormatFixedRoundsWithoutFoundation() {
        XCTAssertEqual(formatFixed(3.14159, 2), "3.14")
        XCTAssertEqual(formatFixed(2.5, 0), "3")
        XCTAssertEqual(formatFixed(0.05, 1), "0.1")
        XCTAssertEqual(formatFixed(7, 3), "7.000")
        XCTAssertEqual(formatFixed(-1.005, 1), "-1.0")
        XCTAssertEqual(formatFixed(-0.004, 2), "0.00", "no minus sign on a value that rounds to zero")
        XCTAssertEqual(formatFixed(1e20, 2), "1e+20", "too large to scale: the plain description")
    }
}
