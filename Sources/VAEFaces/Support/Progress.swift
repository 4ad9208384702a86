import Foundation

/// Reports training progress on standard error.
///
/// On a terminal it keeps one line up to date in place (`\r`, the line, then clear-to-end-of-line):
///
///     [#########---------------]  1875/5000 ep 3  rec 101.3  kl 27.41 | 512.3 img/s  ETA 0:01:13
///
/// Otherwise (a log file, CI) it writes plain lines, at most one per `plainInterval` seconds
/// (plus the last step):
///
///     step 1875/5000 (37.5%)  epoch 3  rec 101.3  kl 27.41  512.3 img/s  ETA 0:01:13  elapsed 0:00:43
///
/// Terminal redraws are throttled to 10 per second, so calling `update` every step is cheap.
/// The images/s rate is an exponential moving average over about `smoothingSeconds`, whatever the
/// call frequency. The output sink and the clock are injectable for tests.
public final class TrainingProgress {
    public enum Style: Sendable { case terminal, plain }

    public let style: Style
    public let totalSteps: Int
    public let imagesPerStep: Int
    /// What a step is called in plain lines: "step" for training, "image" for a feature pass.
    public let stepName: String
    /// Plain style: seconds between lines.
    public var plainInterval: Double
    /// Terminal style: the line is cut to this many characters (nil: no limit).
    public var width: Int?
    /// Time constant of the images/s moving average, in seconds.
    public var smoothingSeconds: Double = 5

    private let sink: (String) -> Void
    private let clock: () -> Double
    private let startTime: Double
    private var lastSample: (time: Double, step: Int)?
    private var smoothedRate: Double?
    private var lastDrawTime = -Double.infinity
    private var lastLine: String?
    private var pending: (step: Int, epoch: Int?, values: [(String, Double)])?
    private var lastPrintedStep: Int?

    /// - Parameters:
    ///   - totalSteps: the step the run ends at (steps count from 1; a resumed run starts past 0).
    ///   - imagesPerStep: the batch size, for images/s.
    ///   - stepName: what a step is called in plain lines.
    ///   - style: nil chooses `.terminal` when standard error is a terminal, else `.plain`.
    ///   - sink: receives the exact text to write (default: standard error, unbuffered).
    ///   - clock: monotonic seconds (default: `CLOCK_MONOTONIC`).
    public init(totalSteps: Int, imagesPerStep: Int, stepName: String = "step", style: Style? = nil, plainInterval: Double = 10,
                width: Int? = nil, sink: ((String) -> Void)? = nil, clock: (() -> Double)? = nil) {
        let isTerminal = isatty(STDERR_FILENO) == 1
        self.style = style ?? (isTerminal ? .terminal : .plain)
        self.totalSteps = totalSteps
        self.imagesPerStep = imagesPerStep
        self.stepName = stepName
        self.plainInterval = plainInterval
        self.width = width ?? (self.style == .terminal && isTerminal ? Self.terminalColumns() : nil)
        self.sink = sink ?? { FileHandle.standardError.write(Data($0.utf8)) }
        self.clock = clock ?? Self.monotonicSeconds
        startTime = self.clock()
    }

    /// Records that `step` (1-based, ≤ totalSteps) is done, in `epoch` (nil: work without epochs),
    /// with named values such as `[("rec", 101.3), ("kl", 27.4)]`; redraws or prints a line if it is time to.
    public func update(step: Int, epoch: Int? = nil, values: [(String, Double)] = []) {
        let now = clock()
        if let last = lastSample, now > last.time, step > last.step {
            let rate = Double((step - last.step) * imagesPerStep) / (now - last.time)
            let alpha = 1 - exp(-(now - last.time) / smoothingSeconds)
            smoothedRate = smoothedRate.map { $0 + alpha * (rate - $0) } ?? rate
        }
        if lastSample == nil || now > lastSample!.time { lastSample = (now, step) }
        pending = (step, epoch, values)
        let isLast = step >= totalSteps
        switch style {
        case .terminal:
            if isLast || now - lastDrawTime >= 0.1 { draw(now: now) }
        case .plain:
            if isLast || now - lastDrawTime >= plainInterval { draw(now: now) }
        }
    }

    /// Writes a message on its own line (e.g. a validation result) without garbling the bar.
    public func message(_ text: String) {
        switch style {
        case .terminal:
            sink("\r\u{1B}[K" + text + "\n" + (lastLine.map { "\r" + $0 + "\u{1B}[K" } ?? ""))
        case .plain:
            sink(text + "\n")
        }
    }

    /// Shows the latest state if it was throttled away; on a terminal, ends the line.
    public func finish() {
        if let pending, pending.step != lastPrintedStep { draw(now: clock()) }
        if style == .terminal, lastLine != nil { sink("\n") }
        lastLine = nil
    }

    // MARK: Formatting

    /// The images/s moving average (nil before two updates).
    public var imagesPerSecond: Double? { smoothedRate }

    /// Seconds left at the current rate (nil when unknown).
    public var secondsRemaining: Double? {
        guard let rate = smoothedRate, rate > 0, let step = pending?.step else { return nil }
        return Double(max(0, totalSteps - step) * imagesPerStep) / rate
    }

    /// The current line, without control characters.
    public func line(now: Double? = nil) -> String {
        guard let (step, epoch, values) = pending else { return "" }
        let rate = smoothedRate.map { String(format: "%.1f img/s", $0) } ?? "-- img/s"
        let eta = "ETA " + (secondsRemaining.map(Self.formatDuration) ?? "-:--:--")
        let named = values.map { "\($0.0) \(Self.formatValue($0.1))" }.joined(separator: "  ")
        let fraction = totalSteps > 0 ? min(1, Double(step) / Double(totalSteps)) : 1
        let digits = String(totalSteps).count
        let stepText = String(repeating: " ", count: max(0, digits - String(step).count)) + "\(step)/\(totalSteps)"
        switch style {
        case .terminal:
            let barWidth = 24
            let filled = Int((fraction * Double(barWidth)).rounded(.down))
            let bar = "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: barWidth - filled) + "]"
            var text = "\(bar) \(stepText)" + (epoch.map { " ep \($0)" } ?? "")
            if !named.isEmpty { text += "  " + named }
            text += " | \(rate)  \(eta)"
            if let width, text.count > width - 1 { text = String(text.prefix(max(0, width - 1))) }
            return text
        case .plain:
            let elapsed = Self.formatDuration((now ?? clock()) - startTime)
            var text = "\(stepName) \(stepText) (\(String(format: "%.1f", 100 * fraction))%)" + (epoch.map { "  epoch \($0)" } ?? "")
            if !named.isEmpty { text += "  " + named }
            return text + "  \(rate)  \(eta)  elapsed \(elapsed)"
        }
    }

    private func draw(now: Double) {
        let text = line(now: now)
        switch style {
        case .terminal: sink("\r" + text + "\u{1B}[K")
        case .plain: sink(text + "\n")
        }
        lastLine = text
        lastDrawTime = now
        lastPrintedStep = pending?.step
    }

    /// "h:mm:ss" (hours unbounded); negative or non-finite durations print as "-:--:--".
    public static func formatDuration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "-:--:--" }
        let total = Int(seconds.rounded())
        return String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
    }

    /// Four significant digits, without exponent for ordinary magnitudes: 101.3, 27.41, 0.001234.
    public static func formatValue(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        return String(format: "%.4g", value)
    }

    private static func monotonicSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    /// Columns of the terminal on standard error (nil if unknown).
    private static func terminalColumns() -> Int? {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }
}
