import Foundation
import Testing
@testable import vae_faces
import VAEFaces

/// Argument checks of the train, sample, eval, export and bench commands (no data needed).
@Suite struct CommandParsingTests {
    @Test func theCommandsAreSubcommands() {
        let names = VAEFacesCommand.configuration.subcommands.map { $0.configuration.commandName }
        for name in ["train", "sample", "eval", "export", "bench"] { #expect(names.contains(name), "\(name)") }
    }

    @Test func trainNeedsADecoderARunFolderAndALength() throws {
        let ok = try TrainCommand.parse(["--data", "d", "--decoder", "pixeldcl", "--out", "r", "--steps", "10", "--eval-every", "5"])
        #expect(ok.decoder == .pixeldcl && ok.steps == 10 && ok.evalEvery == 5 && ok.batch == nil && ok.checkpointEvery == 200)
        #expect(try TrainCommand.parse(["--decoder", "dcl", "--out", "r", "--epochs", "2", "--batch", "32", "--lr", "1e-3",
                                        "--latent", "64", "--beta", "0.5", "--seed", "3"]).latent == 64)
        for bad in [["--out", "r", "--steps", "10"],                                 // no decoder
                    ["--decoder", "dcl", "--steps", "10"],                           // no run folder
                    ["--decoder", "dcl", "--out", "r"],                              // no length
                    ["--decoder", "dcl", "--out", "r", "--steps", "1", "--epochs", "1"],
                    ["--decoder", "dcl", "--out", "r", "--steps", "0"],
                    ["--decoder", "unet", "--out", "r", "--steps", "1"],
                    ["--resume", "a", "--out", "b", "--steps", "1"]] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try TrainCommand.parse(bad) }
        }
        _ = try TrainCommand.parse(["--resume", "r", "--steps", "100"])
    }

    @Test func sampleOptionsAreChecked() throws {
        let ok = try SampleCommand.parse(["--model", "m", "--out", "g.png", "--interpolate", "--slerp", "--n", "16", "--columns", "4"])
        #expect(ok.interpolate && ok.slerp && ok.prior.n == 16)
        for bad in [["--model", "m"],                                                // nowhere to write
                    ["--model", "m", "--out", "g.png", "--slerp"],                    // slerp without interpolate
                    ["--model", "m", "--out", "g.png", "--reconstruct", "--interpolate"],
                    ["--model", "m", "--out", "g.png", "--temperature", "-1"],
                    ["--model", "m", "--out", "g.png", "--interpolate", "--columns", "1"]] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try SampleCommand.parse(bad) }
        }
    }

    @Test func benchChoosesOneMode() throws {
        #expect(try BenchCommand.parse(["--decoder", "dcl", "--steps", "5", "--json"]).decoder == .dcl)
        #expect(throws: (any Error).self) { _ = try BenchCommand.parse([]) }
        #expect(throws: (any Error).self) { _ = try BenchCommand.parse(["--decoder", "dcl", "--layers"]) }
        #expect(try EvalCommand.parse(["--model", "m", "--split", "val"]).split == .val)
        #expect(try ExportCommand.parse(["--model", "m", "--out", "o", "--half"]).half)
    }
}
