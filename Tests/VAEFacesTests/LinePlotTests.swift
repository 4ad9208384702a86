import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import VAEFaces

/// Collects the elements of an XML document (name and attributes) and its text, or the parse error.
private final class XMLCollector: NSObject, XMLParserDelegate {
    var elements: [(name: String, attributes: [String: String])] = []
    var text = ""
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        elements.append((name, attributes))
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    static func parse(_ svg: String) -> XMLCollector? {
        let collector = XMLCollector()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = collector
        return parser.parse() ? collector : nil
    }
}

/// "x1,y1 x2,y2 …" as pairs.
private func points(_ attribute: String?) -> [(Double, Double)] {
    (attribute ?? "").split(separator: " ").map { pair in
        let xy = pair.split(separator: ",").map { Double($0)! }
        return (xy[0], xy[1])
    }
}

@Suite struct LinePlotTests {
    @Test func ticksAreNiceAndCoverTheData() {
        let x = LinePlot.Axis(covering: [3, 997], log: false)
        #expect(x.ticks == [0, 200, 400, 600, 800, 1000] && x.low == 0 && x.high == 1000)
        let y = LinePlot.Axis(covering: [0.13, 0.92], log: false)
        #expect(y.step == 0.2 && y.low == 0 && abs(y.high - 1) < 1e-12)
        #expect(y.ticks.map(y.label) == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        let one = LinePlot.Axis(covering: [5], log: false)  // a single value gets a range around it
        #expect(one.low < 5 && one.high > 5)
        let log = LinePlot.Axis(covering: [0.03, 40], log: true)
        #expect(log.low == -2 && log.high == 2 && log.ticks.map(log.label) == ["0.01", "0.1", "1", "10", "100"])
        let narrow = LinePlot.Axis(covering: [150, 900], log: true)
        #expect(narrow.ticks == [100, 200, 500, 1000])
    }

    @Test func svgIsWellFormedAndPointsLandWhereTheAxesSay() throws {
        var plot = LinePlot(title: "Loss <VAE> & \"friends\"", xLabel: "step", yLabel: "nats / image")
        plot.add("train", x: [0, 250, 500, 750, 1000], y: [5, 4, 3, 2, .nan])  // the NaN point is left out
        plot.add("val", x: [500, 1000], y: [3.5, 1])
        let svg = plot.svg()
        let xml = try #require(XMLCollector.parse(svg), "the SVG is not well-formed XML")
        #expect(xml.elements.first?.name == "svg")
        #expect(xml.text.contains("Loss <VAE> & \"friends\""))
        #expect(xml.text.contains("nats / image") && xml.text.contains("train") && xml.text.contains("val"))

        // x spans 0…1000 and y 1…5 exactly (nice ticks), so the corners of the data are the
        // corners of the plot area, and (500, 3) is its centre.
        let a = plot.area
        let lines = xml.elements.filter { $0.attributes["class"] == "series" }
        #expect(lines.map { $0.attributes["data-name"] } == ["train", "val"])
        let train = points(lines[0].attributes["points"])
        #expect(train.count == 4)
        let expected = [(a.left, a.top), ((a.left * 3 + a.right) / 4, (a.top * 3 + a.bottom) / 4),
                        ((a.left + a.right) / 2, (a.top + a.bottom) / 2), ((a.left + a.right * 3) / 4, (a.top + a.bottom * 3) / 4)]
        for (p, e) in zip(train, expected) { #expect(abs(p.0 - e.0) < 0.01 && abs(p.1 - e.1) < 0.01) }
        let val = points(lines[1].attributes["points"])
        #expect(abs(val[1].0 - a.right) < 0.01 && abs(val[1].1 - a.bottom) < 0.01)
        // Short series get markers: one circle per point.
        #expect(xml.elements.filter { $0.name == "circle" }.count == 6)
        // Tick labels along both axes.
        for label in ["0", "200", "1000", "1", "5"] { #expect(svg.contains(">\(label)</text>")) }
    }

    @Test func logScaleMapsDecadesEvenly() throws {
        var plot = LinePlot(title: "t", xLabel: "step", yLabel: "loss", logY: true)
        plot.add("train", x: [0, 1, 2, 3], y: [1000, 10, 0.1, 0])  // 0 cannot be shown on a log axis
        let xml = try #require(XMLCollector.parse(plot.svg()))
        let line = try #require(xml.elements.first { $0.attributes["class"] == "series" })
        let ys = points(line.attributes["points"]).map(\.1)
        let a = plot.area
        // 1000 → top, 0.1 → bottom, 10 half way between: decades are equally spaced.
        #expect(ys.count == 3)
        #expect(abs(ys[0] - a.top) < 0.01 && abs(ys[2] - a.bottom) < 0.01 && abs(ys[1] - (a.top + a.bottom) / 2) < 0.01)
        #expect(xml.text.contains("loss (log scale)"))
    }

    /// Panels stack into one document: the second is moved down by the first's height and keeps
    /// its own axes (here a log scale).
    @Test func stackedPanelsShareOneDocument() throws {
        var loss = LinePlot(title: "Training", xLabel: "step", yLabel: "nats")
        loss.add("train", x: [1, 2, 3], y: [3, 2, 1])
        var ratios = LinePlot(title: "Artifacts", xLabel: "step", yLabel: "ratio", logY: true)
        ratios.add("R(cb)", x: [1, 3], y: [100, 0.1])
        let svg = LinePlot.svg(stacking: [loss, ratios])
        let xml = try #require(XMLCollector.parse(svg), "the SVG is not well-formed XML")
        let root = try #require(xml.elements.first)
        #expect(root.name == "svg" && root.attributes["height"] == "1000.00" && root.attributes["width"] == "800.00")
        #expect(xml.elements.filter { $0.name == "svg" }.count == 1)
        let panels = xml.elements.filter { $0.attributes["class"] == "panel" }
        #expect(panels.map { $0.attributes["transform"] } == ["translate(0 500.00)"])
        let lines = xml.elements.filter { $0.attributes["class"] == "series" }
        #expect(lines.map { $0.attributes["data-name"] } == ["train", "R(cb)"])
        // Within its panel, the second plot's points land where its own axes say: 100 at the top, 0.1 at the bottom.
        let a = ratios.area
        let ys = points(lines[1].attributes["points"]).map(\.1)
        #expect(abs(ys[0] - a.top) < 0.01 && abs(ys[1] - a.bottom) < 0.01)
        #expect(xml.text.contains("Training") && xml.text.contains("Artifacts") && xml.text.contains("ratio (log scale)"))
        #expect(LinePlot.svg(stacking: [loss]) == loss.svg())
    }

    @Test func writesAtomically() throws {
        let folder = try makeTemporaryFolder()
        var plot = LinePlot(title: "t", xLabel: "x", yLabel: "y")
        plot.add("a", x: [1, 2], y: [3, 4])
        try plot.write(to: folder + "/loss.svg")
        #expect(try String(contentsOfFile: folder + "/loss.svg", encoding: .utf8) == plot.svg())
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["loss.svg"])
        // An empty plot is still a valid document.
        #expect(XMLCollector.parse(LinePlot(title: "", xLabel: "", yLabel: "").svg()) != nil)
    }
}
