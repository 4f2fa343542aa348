import Net

/// A time-series chart drawn as SVG by Tandem itself: axes with ticks, step lines, bars, bands,
/// shaded windows, event markers and a legend. No script, no font file, no external URL: a report
/// that embeds it is one self-contained file.
public struct SVGChart: Sendable {
    /// A colour (CSS).
    public typealias Colour = String

    /// The chart's width and height in pixels.
    public var width: Double = 960
    /// Height.
    public var height: Double
    /// The x range (seconds, usually from the fault).
    public var xRange: ClosedRange<Double>
    /// The y range.
    public var yRange: ClosedRange<Double>
    /// The title above the plot.
    public var title: String
    /// The y axis' label.
    public var yLabel: String
    /// The x axis' label.
    public var xLabel = "seconds from the fault"
    /// When false, the y axis has no ticks (a band chart's rows are labelled instead).
    public var yTicks = true
    /// The y axis counts things: ticks at whole numbers only.
    public var wholeYTicks = false

    private let left = 88.0, right = 16.0, top = 30.0, bottom = 40.0
    private var body: [String] = []
    private var overlay: [String] = []
    private var legend: [(colour: Colour, label: String, dashed: Bool)] = []
    /// Where marker labels were put (x pixel, row), so close ones go on separate rows.
    private var markerLabels: [(x: Double, row: Int)] = []

    /// An empty chart.
    public init(title: String, yLabel: String, xRange: ClosedRange<Double>, yRange: ClosedRange<Double>, height: Double = 220) {
        self.title = title; self.yLabel = yLabel; self.height = height
        self.xRange = xRange.lowerBound < xRange.upperBound ? xRange : xRange.lowerBound...(xRange.lowerBound + 1)
        self.yRange = yRange.lowerBound < yRange.upperBound ? yRange : yRange.lowerBound...(yRange.lowerBound + 1)
    }

    /// The plot area's x pixel for `v`.
    public func x(_ v: Double) -> Double {
        let w = width - left - right
        return left + (min(max(v, xRange.lowerBound), xRange.upperBound) - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound) * w
    }

    /// The plot area's y pixel for `v`.
    public func y(_ v: Double) -> Double {
        let h = height - top - bottom
        return top + h - (min(max(v, yRange.lowerBound), yRange.upperBound) - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound) * h
    }

    /// A step line through `points` (each value holds until the next point), with a legend entry.
    public mutating func steps(_ points: [(x: Double, y: Double)], colour: Colour, label: String, width w: Double = 1.5, fill: Bool = false) {
        guard let first = points.first else { legend.append((colour, label, false)); return }
        var d = "M\(f(x(first.x))),\(f(y(first.y)))"
        for (i, p) in points.enumerated() {
            let nx = i + 1 < points.count ? points[i + 1].x : p.x
            d += " L\(f(x(nx))),\(f(y(p.y)))"
            if i + 1 < points.count { d += " L\(f(x(nx))),\(f(y(points[i + 1].y)))" }
        }
        if fill, let last = points.last {
            let base = f(y(max(yRange.lowerBound, 0)))
            body.append("<path d=\"\(d) L\(f(x(last.x))),\(base) L\(f(x(first.x))),\(base) Z\" fill=\"\(colour)\" fill-opacity=\"0.25\" stroke=\"none\"/>")
        }
        body.append("<path d=\"\(d)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"\(f(w))\"/>")
        legend.append((colour, label, false))
    }

    /// Bars from 0 to each value, `barWidth` wide in x units, with a legend entry.
    public mutating func bars(_ points: [(x: Double, y: Double)], barWidth: Double, colour: Colour, label: String) {
        let base = y(max(yRange.lowerBound, 0))
        for p in points where p.y > 0 {
            let x0 = x(p.x), x1 = max(x(p.x + barWidth), x0 + 1)
            let top = y(p.y)
            body.append("<rect x=\"\(f(x0))\" y=\"\(f(top))\" width=\"\(f(x1 - x0))\" height=\"\(f(base - top))\" fill=\"\(colour)\"/>")
        }
        legend.append((colour, label, false))
    }

    /// A filled stretch of one band row: from `x0` to `x1` between `y0` and `y1` (data units).
    public mutating func block(x0: Double, x1: Double, y0: Double, y1: Double, colour: Colour, opacity: Double = 1, title: String? = nil) {
        let px0 = x(x0), px1 = max(x(x1), px0 + 1)
        let t = title.map { "<title>\(HTML.escape($0))</title>" } ?? ""
        body.append("<rect x=\"\(f(px0))\" y=\"\(f(y(y1)))\" width=\"\(f(px1 - px0))\" height=\"\(f(y(y0) - y(y1)))\" fill=\"\(colour)\" fill-opacity=\"\(f(opacity))\">\(t)</rect>")
    }

    /// A label at the left of a band row, in the y axis' margin.
    public mutating func rowLabel(_ text: String, atY v: Double) {
        overlay.append("<text x=\"\(f(left - 6))\" y=\"\(f(y(v) + 4))\" text-anchor=\"end\" class=\"tick\">\(HTML.escape(text))</text>")
    }

    /// A shaded window from `x0` to `x1` across the whole plot, behind the data.
    public mutating func window(from x0: Double, to x1: Double, colour: Colour, label: String?) {
        let px0 = x(x0), px1 = max(x(x1), px0 + 1)
        body.insert("<rect x=\"\(f(px0))\" y=\"\(f(top))\" width=\"\(f(px1 - px0))\" height=\"\(f(height - top - bottom))\" fill=\"\(colour)\" fill-opacity=\"0.07\"/>", at: 0)
        if let label { legend.append((colour, label, false)) }
    }

    /// A legend entry with nothing drawn (for colours a chart uses in ``block(x0:x1:y0:y1:colour:opacity:title:)``).
    public mutating func legendEntry(_ colour: Colour, _ label: String) { legend.append((colour, label, false)) }

    /// A vertical marker at `at` with a short label on top.
    public mutating func marker(at v: Double, label: String, colour: Colour, dashed: Bool = true) {
        let px = x(v)
        let dash = dashed ? " stroke-dasharray=\"5,3\"" : ""
        overlay.append("<line x1=\"\(f(px))\" y1=\"\(f(top))\" x2=\"\(f(px))\" y2=\"\(f(height - bottom))\" stroke=\"\(colour)\" stroke-width=\"1.5\"\(dash)><title>\(HTML.escape(label))</title></line>")
        // A label within 70 px of another goes a row lower, so neighbouring events stay readable.
        var row = 0
        while markerLabels.contains(where: { $0.row == row && abs($0.x - px) < 70 }) && row < 4 { row += 1 }
        markerLabels.append((px, row))
        // Near the right edge the label goes to the left of its line.
        let leftward = px + Double(label.count) * 5.5 + 4 > width - right
        overlay.append("<text x=\"\(f(leftward ? px - 3 : px + 3))\" y=\"\(f(top + 10 + Double(row) * 11))\"\(leftward ? " text-anchor=\"end\"" : "") class=\"marker\" fill=\"\(colour)\">\(HTML.escape(label))</text>")
    }

    /// The SVG element.
    public func render() -> String {
        var out = "<svg class=\"chart\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\">"
        out += "<title>\(HTML.escape(title))</title>"
        out += "<text x=\"\(f(left))\" y=\"16\" class=\"title\">\(HTML.escape(title))</text>"
        out += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(width - left - right))\" height=\"\(f(height - top - bottom))\" class=\"plot\"/>"
        out += body.joined()
        out += axes()
        out += overlay.joined()
        out += legendSVG()
        return out + "</svg>"
    }

    private func axes() -> String {
        var out = "<g class=\"axis x\">"
        let bottomY = height - bottom
        out += "<line x1=\"\(f(left))\" y1=\"\(f(bottomY))\" x2=\"\(f(width - right))\" y2=\"\(f(bottomY))\" class=\"axisline\"/>"
        let xt = Self.ticks(xRange, about: 12)
        for t in xt {
            out += "<line x1=\"\(f(x(t)))\" y1=\"\(f(bottomY))\" x2=\"\(f(x(t)))\" y2=\"\(f(bottomY + 4))\" class=\"axisline\"/>"
            out += "<text x=\"\(f(x(t)))\" y=\"\(f(bottomY + 16))\" text-anchor=\"middle\" class=\"tick\">\(Self.label(t, step: Self.step(xt)))</text>"
        }
        out += "<text x=\"\(f(left + (width - left - right) / 2))\" y=\"\(f(height - 4))\" text-anchor=\"middle\" class=\"label\">\(HTML.escape(xLabel))</text></g>"
        out += "<g class=\"axis y\"><line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(bottomY))\" class=\"axisline\"/>"
        if yTicks {
            let yt = Self.ticks(yRange, about: 5, minimumStep: wholeYTicks ? 1 : 0)
            for t in yt {
                out += "<line x1=\"\(f(left - 4))\" y1=\"\(f(y(t)))\" x2=\"\(f(left))\" y2=\"\(f(y(t)))\" class=\"axisline\"/>"
                out += "<line x1=\"\(f(left))\" y1=\"\(f(y(t)))\" x2=\"\(f(width - right))\" y2=\"\(f(y(t)))\" class=\"grid\"/>"
                out += "<text x=\"\(f(left - 6))\" y=\"\(f(y(t) + 4))\" text-anchor=\"end\" class=\"tick\">\(Self.label(t, step: Self.step(yt)))</text>"
            }
        }
        let midY = top + (height - top - bottom) / 2
        out += "<text transform=\"translate(14,\(f(midY))) rotate(-90)\" text-anchor=\"middle\" class=\"label\">\(HTML.escape(yLabel))</text></g>"
        return out
    }

    private func legendSVG() -> String {
        guard !legend.isEmpty else { return "" }
        var out = "<g class=\"legend\">"
        var px = width - right
        for item in legend.reversed() {
            let w = Double(item.label.count) * 6.4 + 22
            px -= w
            out += "<rect x=\"\(f(px))\" y=\"7\" width=\"12\" height=\"10\" fill=\"\(item.colour)\"/>"
            out += "<text x=\"\(f(px + 16))\" y=\"16\" class=\"legendtext\">\(HTML.escape(item.label))</text>"
        }
        return out + "</g>"
    }

    /// Round tick values over `range`, about `about` of them (1, 2 or 5 times a power of ten apart).
    static func ticks(_ range: ClosedRange<Double>, about: Int, minimumStep: Double = 0) -> [Double] {
        let span = range.upperBound - range.lowerBound
        guard span > 0, span.isFinite else { return [range.lowerBound] }
        let raw = max(span / Double(max(1, about)), minimumStep)
        var step = 1.0
        while step > raw { step /= 10 }
        while step * 10 <= raw { step *= 10 }
        if step * 5 <= raw { step *= 5 } else if step * 2 <= raw { step *= 2 }
        var t = (range.lowerBound / step).rounded(.up) * step
        var out: [Double] = []
        while t <= range.upperBound + step * 1e-9 && out.count < 200 { out.append(abs(t) < step * 1e-9 ? 0 : t); t += step }
        return out
    }

    /// The distance between ticks (1 for a single tick).
    static func step(_ ticks: [Double]) -> Double { ticks.count > 1 ? ticks[1] - ticks[0] : 1 }

    /// A tick's label with as many decimals as its step needs (`2`, `0.5`, `0.25`).
    static func label(_ v: Double, step: Double) -> String {
        let decimals = step >= 0.999 ? 0 : step >= 0.0999 ? 1 : 2
        return decimals == 0 ? String(Int(v.rounded())) : formatFixed(v, decimals)
    }

    private func f(_ v: Double) -> String { formatFixed(v, 1) }
}
