import ArgumentParser
import Foundation

@main
struct VAEFacesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae-faces",
        abstract: "Train a VAE on 64×64 CelebA faces with DCL or PixelDCL up-sampling, and measure checkerboard artifacts.",
        subcommands: [
            PrepareCommand.self,
            TrainCommand.self,
            SampleCommand.self,
            EvalCommand.self,
            TraverseCommand.self,
            AttributesCommand.self,
            ExportCommand.self,
            ArtifactScoreCommand.self,
            FIDCommand.self,
            StudyCommand.self,
            BenchCommand.self,
            SelfCheckCommand.self,
        ])
}

/// Prints an Encodable as pretty JSON with sorted keys to standard output.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}

/// Writes a line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
