import ArgumentParser
import VAEFaces

struct SelfCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selfcheck",
        abstract: "Check that OpenBLAS, libpng and TurboJPEG are linked and compute correctly.")

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        let report = SelfCheck.run()
        if json {
            try printJSON(report)
        } else {
            for item in report.items {
                print("\(item.ok ? "ok  " : "FAIL") \(item.name): \(item.detail)")
            }
            print(report.ok ? "all libraries ok" : "SELF-CHECK FAILED")
        }
        if !report.ok { throw ExitCode.failure }
    }
}
