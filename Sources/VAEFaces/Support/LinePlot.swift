import Foundation
import TensorIO

/// A line plot of named series (e.g. train and validation loss over steps) as an SVG file:
/// axes with "nice" ticks (1, 2 or 5 × 10^k) and grid lines, axis labels, a title, a legend,
/// and optionally a log-scale y axis.
///
///     var plot = LinePlot(title: "Loss", xLabel: "step", yLabel: "nats / image")
///     plot.add("train", x: steps, y: trainLoss)
///     plot.add("val", x: valSteps, y: valLoss)
///     try plot.write(to: run + "/loss.svg")
///
/// Points with a non-finite coordinate (or y ≤ 0 on a log scale) are left out. A band (`addBand`)
/// shades a range of y across the whole plot, such as the range a quantity takes by chance.
/// Several plots go into one SVG as panels, one under another or in a grid (`svg(stacking:columns:)`).
public struct LinePlot {
    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        /// Draw a dot at each point (set for short series, such as one value per epoch).
        public var markers: Bool
    }

    /// A shaded horizontal band from y = `low` to y = `high`, drawn under the series.
    public struct Band {
        public var name: String
        public var low: Double
        public var high: Double
    }

    /// The plot area within the image, in pixels (y grows downwards).
    public struct Area: Equatable, Sendable {
        public var left, top, right, bottom: Double
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var logY: Bool
    public var width: Double = 800
    public var height: Double = 500
    public private(set) var series: [Series] = []
    public private(set) var bands: [Band] = []

    /// Line colours, in the order series are added (then repeating).
    public static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]

    public init(title: String, xLabel: String, yLabel: String, logY: Bool = false) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.logY = logY
    }

    /// Adds a series; `x` and `y` pair up by index. Markers default to on for ≤ 30 points.
    public mutating func add(_ name: String, x: [Double], y: [Double], markers: Bool? = nil) {
        precondition(x.count == y.count, "LinePlot: \(x.count) x values and \(y.count) y values for '\(name)'")
        let points = zip(x, y).filter { $0.isFinite && $1.isFinite && (!logY || $1 > 0) }.map { (x: $0, y: $1) }
        series.append(Series(name: name, points: points, markers: markers ?? (points.count <= 30)))
    }

    /// Adds a shaded band (left out unless both ends are finite, and positive on a log scale);
    /// the y axis covers it.
    public mutating func addBand(_ name: String, low: Double, high: Double) {
        guard low.isFinite, high.isFinite, !logY || min(low, high) > 0 else { return }
        bands.append(Band(name: name, low: min(low, high), high: max(low, high)))
    }

    public var area: Area { Area(left: 75, top: 40, right: width - 20, bottom: height - 55) }

    /// The axis ranges (y in log10 units on a log scale) after rounding out to ticks, and the ticks.
    public var axes: (x: Axis, y: Axis) {
        let points = series.flatMap(\.points)
        let x = Axis(covering: points.map(\.x), log: false)
        let y = Axis(covering: points.map(\.y) + bands.flatMap { [$0.low, $0.high] }, log: logY)
        return (x, y)
    }

    /// Where the data point (x, y) lands in the image, in pixels.
    public func position(x: Double, y: Double) -> (x: Double, y: Double) {
        let (xAxis, yAxis) = axes
        let a = area
        return (a.left + xAxis.fraction(x) * (a.right - a.left), a.bottom - yAxis.fraction(y) * (a.bottom - a.top))
    }

    /// The SVG document.
    public func svg() -> String { Self.svg(stacking: [self]) }

    /// One SVG document of `panels` (at least one), in rows of `columns` panels, one row under
    /// another: each column as wide as the widest panel, each row as high as its highest. Each
    /// panel after the first is a group moved to its place.
    public static func svg(stacking panels: [LinePlot], columns: Int = 1) -> String {
        precondition(!panels.isEmpty && columns > 0, "LinePlot.svg: \(panels.count) panels in \(columns) columns")
        let rows = stride(from: 0, to: panels.count, by: columns).map { Array(panels[$0..<min(panels.count, $0 + columns)]) }
        let column = panels.map(\.width).max()!
        let width = column * Double(min(columns, panels.count))
        let height = rows.map { $0.map(\.height).max()! }.reduce(0, +)
        var out = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(n(width))" height="\(n(height))" viewBox="0 0 \(n(width)) \(n(height))" font-family="sans-serif" font-size="12">
            <rect width="\(n(width))" height="\(n(height))" fill="white"/>

            """
        var top = 0.0
        for row in rows {
            for (index, panel) in row.enumerated() {
                let left = index == 0 ? "0" : n(Double(index) * column)
                out += top == 0 && index == 0 ? panel.panel()
                    : "<g class=\"panel\" transform=\"translate(\(left) \(n(top)))\">\n" + panel.panel() + "</g>\n"
            }
            top += row.map(\.height).max()!
        }
        return out + "</svg>\n"
    }

    /// The plot's elements in its own coordinates: title, grid, ticks, frame, labels, series, legend.
    private func panel() -> String {
        let (xAxis, yAxis) = axes
        let a = area
        var out = "<text x=\"\(n(width / 2))\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">\(escape(title))</text>\n"
        // Grid lines and tick labels.
        out += "<g class=\"grid\" stroke=\"#e0e0e0\">\n"
        for tick in xAxis.ticks {
            let px = a.left + xAxis.fraction(tick) * (a.right - a.left)
            out += "<line x1=\"\(n(px))\" y1=\"\(n(a.top))\" x2=\"\(n(px))\" y2=\"\(n(a.bottom))\"/>\n"
        }
        for tick in yAxis.ticks {
            let py = a.bottom - yAxis.fraction(tick) * (a.bottom - a.top)
            out += "<line x1=\"\(n(a.left))\" y1=\"\(n(py))\" x2=\"\(n(a.right))\" y2=\"\(n(py))\"/>\n"
        }
        out += "</g>\n<g class=\"ticks\">\n"
        for tick in xAxis.ticks {
            let px = a.left + xAxis.fraction(tick) * (a.right - a.left)
            out += "<text x=\"\(n(px))\" y=\"\(n(a.bottom + 18))\" text-anchor=\"middle\">\(xAxis.label(tick))</text>\n"
        }
        for tick in yAxis.ticks {
            let py = a.bottom - yAxis.fraction(tick) * (a.bottom - a.top)
            out += "<text x=\"\(n(a.left - 6))\" y=\"\(n(py + 4))\" text-anchor=\"end\">\(yAxis.label(tick))</text>\n"
        }
        out += "</g>\n"
        out += "<rect class=\"frame\" x=\"\(n(a.left))\" y=\"\(n(a.top))\" width=\"\(n(a.right - a.left))\" height=\"\(n(a.bottom - a.top))\" fill=\"none\" stroke=\"black\"/>\n"
        out += "<text x=\"\(n((a.left + a.right) / 2))\" y=\"\(n(height - 14))\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        let yLabelText = escape(yLabel) + (logY ? " (log scale)" : "")
        out += "<text transform=\"translate(18 \(n((a.top + a.bottom) / 2))) rotate(-90)\" text-anchor=\"middle\">\(yLabelText)</text>\n"

        // The bands, the series, then the legend in the top-right corner.
        for band in bands {
            let (high, low) = (yAxis.fraction(band.high), yAxis.fraction(band.low))
            let top = a.bottom - min(1, high) * (a.bottom - a.top), bottom = a.bottom - max(0, low) * (a.bottom - a.top)
            out += "<rect class=\"band\" data-name=\"\(escape(band.name))\" x=\"\(n(a.left))\" y=\"\(n(top))\" width=\"\(n(a.right - a.left))\" height=\"\(n(max(0, bottom - top)))\" fill=\"#999999\" fill-opacity=\"0.25\"/>\n"
        }
        for (index, s) in series.enumerated() where !s.points.isEmpty {
            let color = Self.colors[index % Self.colors.count]
            let pixels = s.points.map { position(x: $0.x, y: $0.y, xAxis: xAxis, yAxis: yAxis, area: a) }
            out += "<polyline class=\"series\" data-name=\"\(escape(s.name))\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(pixels.map { "\(n($0.x)),\(n($0.y))" }.joined(separator: " "))\"/>\n"
            if s.markers {
                out += "<g fill=\"\(color)\">" + pixels.map { "<circle cx=\"\(n($0.x))\" cy=\"\(n($0.y))\" r=\"2.5\"/>" }.joined() + "</g>\n"
            }
        }
        out += "<g class=\"legend\">\n"
        let legendWidth = 30 + 7 * Double((series.map(\.name.count) + bands.map(\.name.count)).max() ?? 0)
        let legendX = a.right - legendWidth - 10
        for (index, s) in series.enumerated() {
            let color = Self.colors[index % Self.colors.count]
            let y = a.top + 18 + 18 * Double(index)
            out += "<line x1=\"\(n(legendX))\" y1=\"\(n(y - 4))\" x2=\"\(n(legendX + 20))\" y2=\"\(n(y - 4))\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            out += "<text x=\"\(n(legendX + 26))\" y=\"\(n(y))\">\(escape(s.name))</text>\n"
        }
        for (index, band) in bands.enumerated() {
            let y = a.top + 18 + 18 * Double(series.count + index)
            out += "<rect x=\"\(n(legendX))\" y=\"\(n(y - 10))\" width=\"20\" height=\"10\" fill=\"#999999\" fill-opacity=\"0.25\"/>"
            out += "<text x=\"\(n(legendX + 26))\" y=\"\(n(y))\">\(escape(band.name))</text>\n"
        }
        return out + "</g>\n"
    }

    /// One axis: its range rounded out to ticks, and the ticks. On a log axis, `low`, `high` and
    /// `step` are in log10 units while `ticks` are data values.
    public struct Axis: Sendable {
        public let log: Bool
        public let low: Double
        public let high: Double
        public let ticks: [Double]
        /// Spacing of the ticks (log10 units on a log axis).
        public let step: Double

        /// An axis covering `values` (finite; positive on a log axis), with about 5 intervals.
        public init(covering values: [Double], log: Bool) {
            self.log = log
            var low = values.map { log ? log10($0) : $0 }.min() ?? 0
            var high = values.map { log ? log10($0) : $0 }.max() ?? 1
            if high - low < 1e-12 * max(1, abs(high)) {  // one value: a unit range around it
                let pad = log ? 1 : max(0.5, abs(low) * 0.1)
                (low, high) = (low - pad, high + pad)
            }
            if log {
                // Whole decades; ticks at 1, 2, 5 × 10^k when the range is at most two decades.
                let (first, last) = (low.rounded(.down), high.rounded(.up))
                (self.low, self.high, self.step) = (first, last, 1)
                let mantissas: [Double] = last - first <= 2 ? [1, 2, 5] : [1]
                ticks = stride(from: first, through: last, by: 1).flatMap { decade in
                    mantissas.map { $0 * pow(10, decade) }
                }.filter { log10($0) <= last + 1e-9 }
            } else {
                let raw = (high - low) / 5
                let magnitude = pow(10, raw.log10().rounded(.down))
                let residual = raw / magnitude
                let step = (residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 5 ? 5 : 10) * magnitude
                let (first, last) = ((low / step).rounded(.down), (high / step).rounded(.up))
                (self.low, self.high, self.step) = (first * step, last * step, step)
                ticks = stride(from: first, through: last, by: 1).map { $0 * step }
            }
        }

        /// Where `value` lies along the axis, 0 at `low` and 1 at `high`.
        public func fraction(_ value: Double) -> Double {
            ((log ? log10(value) : value) - low) / (high - low)
        }

        /// A tick's label: as many decimals as the tick spacing needs ("0.25", "1000"), or a
        /// shortest "%g" form on a log axis ("0.001", "1e+06").
        public func label(_ tick: Double) -> String {
            if log { return String(format: "%g", tick) }
            let decimals = max(0, Int((-step.log10()).rounded(.up)))
            return String(format: "%.\(decimals)f", abs(tick) < step * 1e-9 ? 0 : tick)
        }
    }

    /// Writes the SVG to `path` atomically.
    public func write(to path: String) throws {
        try Self.write([self], to: path)
    }

    /// Writes the SVG of `panels` (`svg(stacking:columns:)`) to `path` atomically.
    public static func write(_ panels: [LinePlot], columns: Int = 1, to path: String) throws {
        try AtomicWrite.write(Data(svg(stacking: panels, columns: columns).utf8), to: path)
    }

    private func position(x: Double, y: Double, xAxis: Axis, yAxis: Axis, area a: Area) -> (x: Double, y: Double) {
        (a.left + xAxis.fraction(x) * (a.right - a.left), a.bottom - yAxis.fraction(y) * (a.bottom - a.top))
    }

    /// A pixel coordinate with two decimals.
    private func n(_ value: Double) -> String { Self.n(value) }
    private static func n(_ value: Double) -> String { String(format: "%.2f", value) }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

private extension Double {
    func log10() -> Double { Foundation.log10(self) }
}
