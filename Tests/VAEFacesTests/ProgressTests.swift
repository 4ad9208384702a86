import Foundation
import Testing
import VAEFaces

/// A progress reporter wired to a fake clock and a string buffer.
private final class Harness {
    var now = 100.0
    var output = ""
    lazy var progress = makeProgress(style: .terminal)

    func makeProgress(style: TrainingProgress.Style, total: Int = 100, width: Int? = nil) -> TrainingProgress {
        TrainingProgress(totalSteps: total, imagesPerStep: 64, style: style, plainInterval: 10, width: width,
                         sink: { [unowned self] in self.output += $0 }, clock: { [unowned self] in self.now })
    }
}

@Suite struct ProgressTests {
    @Test func durationsAndValuesAreFormatted() {
        #expect(TrainingProgress.formatDuration(0) == "0:00:00")
        #expect(TrainingProgress.formatDuration(59.4) == "0:00:59")
        #expect(TrainingProgress.formatDuration(59.6) == "0:01:00")
        #expect(TrainingProgress.formatDuration(3661) == "1:01:01")
        #expect(TrainingProgress.formatDuration(360_000) == "100:00:00")
        #expect(TrainingProgress.formatDuration(.infinity) == "-:--:--")
        #expect(TrainingProgress.formatValue(101.34) == "101.3")
        #expect(TrainingProgress.formatValue(27.4149) == "27.41")
        #expect(TrainingProgress.formatValue(0.0012345) == "0.001234")
        #expect(TrainingProgress.formatValue(.nan) == "nan")
    }

    @Test func rateAndETAFollowTheClock() {
        let h = Harness()
        let p = h.progress
        // 2 steps per second of 64 images: 128 img/s; the average converges whatever the call rate.
        for step in 1...20 {
            h.now += 0.5
            p.update(step: step, epoch: 1, values: [("rec", 100)])
        }
        #expect(abs(p.imagesPerSecond! - 128) < 1e-9)
        // 80 steps left at 2 steps/s: 40 s.
        #expect(abs(p.secondsRemaining! - 40) < 1e-9)
        #expect(p.line().hasSuffix("| 128.0 img/s  ETA 0:00:40"))
        // A slowdown to 1 step/s moves the average towards 64 img/s, smoothly.
        for step in 21...22 { h.now += 1; p.update(step: step, epoch: 1) }
        let rate = p.imagesPerSecond!
        #expect(rate < 128 && rate > 64)
        #expect(abs(rate - (64 + 64 * exp(-2.0 / 5))) < 1e-9)  // time constant 5 s
    }

    @Test func terminalLineIsRedrawnInPlaceAtMostTenTimesASecond() {
        let h = Harness()
        let p = h.progress
        p.update(step: 1, epoch: 0, values: [("rec", 512.25), ("kl", 3.5)])
        #expect(h.output == "\r[------------------------]   1/100 ep 0  rec 512.2  kl 3.5 | -- img/s  ETA -:--:--\u{1B}[K")
        // 1 ms per step: steps 2…99 take 98 ms, nothing is redrawn; step 100 (the last) is.
        h.output = ""
        for step in 2...99 { h.now += 0.001; p.update(step: step, epoch: 0) }
        #expect(h.output == "")
        h.now += 0.001
        p.update(step: 100, epoch: 1, values: [("rec", 80)])
        #expect(h.output == "\r[########################] 100/100 ep 1  rec 80 | 64000.0 img/s  ETA 0:00:00\u{1B}[K")
        p.message("val loss 90.5")
        #expect(h.output.hasSuffix("\u{1B}[K\r\u{1B}[Kval loss 90.5\n\r[########################] 100/100 ep 1  rec 80 | 64000.0 img/s  ETA 0:00:00\u{1B}[K"))
        h.output = ""
        p.finish()
        #expect(h.output == "\n")
    }

    @Test func terminalBarFillsAndIsCutToTheWidth() {
        let h = Harness()
        let p = h.makeProgress(style: .terminal, total: 8, width: 30)
        p.update(step: 3, epoch: 2, values: [("loss", 1)])
        // 3/8 of 24 = 9 cells; the line is cut to 29 characters.
        #expect(h.output == "\r[#########---------------] 3/\u{1B}[K")
    }

    @Test func plainLinesAreThrottledToTheInterval() {
        let h = Harness()
        let p = h.makeProgress(style: .plain, total: 1000)
        for step in 1...1000 {  // 0.125 s per step: 125 s in all
            h.now += 0.125
            p.update(step: step, epoch: step / 500, values: [("rec", 2), ("kl", 0.5)])
        }
        p.finish()
        let lines = h.output.split(separator: "\n", omittingEmptySubsequences: false)
        // First step, then one line per 10 s (steps 81, 161, …, 961), the last step, and "" after the last "\n".
        #expect(lines.count == 15 && lines.last == "")
        #expect(lines[0] == "step    1/1000 (0.1%)  epoch 0  rec 2  kl 0.5  -- img/s  ETA -:--:--  elapsed 0:00:00")
        #expect(lines[1] == "step   81/1000 (8.1%)  epoch 0  rec 2  kl 0.5  512.0 img/s  ETA 0:01:55  elapsed 0:00:10")
        #expect(lines[12] == "step  961/1000 (96.1%)  epoch 1  rec 2  kl 0.5  512.0 img/s  ETA 0:00:05  elapsed 0:02:00")
        #expect(lines[13] == "step 1000/1000 (100.0%)  epoch 2  rec 2  kl 0.5  512.0 img/s  ETA 0:00:00  elapsed 0:02:05")
        #expect(!h.output.contains("\r") && !h.output.contains("\u{1B}"))
    }

    @Test func finishShowsAThrottledLastState() {
        let h = Harness()
        let p = h.makeProgress(style: .plain, total: 100)
        p.update(step: 1, epoch: 0)
        h.now += 1
        p.update(step: 2, epoch: 0)  // within the interval: not printed
        #expect(h.output.split(separator: "\n").count == 1)
        p.finish()  // stopped early (e.g. Ctrl-C): the last state is shown
        #expect(h.output.split(separator: "\n").last?.hasPrefix("step   2/100") == true)
    }

    @Test func workWithoutEpochsNamesItsStepsAndShowsNoEpoch() {
        let h = Harness()
        let plain = TrainingProgress(totalSteps: 659, imagesPerStep: 1, stepName: "image", style: .plain,
                                     sink: { h.output += $0 }, clock: { h.now })
        plain.update(step: 1)
        #expect(h.output == "image   1/659 (0.2%)  -- img/s  ETA -:--:--  elapsed 0:00:00\n")
        h.output = ""
        let bar = TrainingProgress(totalSteps: 659, imagesPerStep: 1, stepName: "image", style: .terminal,
                                   sink: { h.output += $0 }, clock: { h.now })
        bar.update(step: 1)
        #expect(h.output.contains("]   1/659 | -- img/s") && !h.output.contains("ep "))
    }
}
