/// study.svg: R(cb) (left) and R(cb_local) (right) of the fixed-latent samples against the
/// training step, one row of panels per decoder, one line per seed, log scale, with the
/// real-vs-real noise band (`StudyRunResult.noiseBand`'s bootstrap interval) shaded.
enum StudyPlot {
    static func write(_ runs: [StudyRunResult], to path: String) throws {
        try LinePlot.write(panels(runs), columns: 2, to: path)
    }

    static func panels(_ runs: [StudyRunResult]) -> [LinePlot] {
        let decoders = DecoderKind.allCases.filter { decoder in runs.contains { $0.decoder == decoder } }
        let band = runs[0].noiseBand
        return decoders.flatMap { decoder in
            let seeds = runs.filter { $0.decoder == decoder }
            return [("R(cb)", \StudyCurvePoint.samplesCB, band.cb), ("R(cb_local)", \StudyCurvePoint.samplesCBLocal, band.cbLocal)]
                .map { title, column, noise in
                    var plot = LinePlot(title: "\(decoder.rawValue): samples \(title)", xLabel: "step",
                                        yLabel: "\(title) against real val faces", logY: true)
                    plot.height = 360
                    for run in seeds {
                        let points = run.curves.compactMap { point in point[keyPath: column].map { (Double(point.step), $0) } }
                        plot.add("seed \(run.seed)", x: points.map(\.0), y: points.map(\.1), markers: true)
                    }
                    if let interval = noise.interval { plot.addBand("real vs real, 95 %", low: interval.low, high: interval.high) }
                    return plot
                }
        }
    }
}
