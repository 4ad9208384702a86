import ArgumentParser
import Foundation
import VAEFaces

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a model's weights and BatchNorm statistics alone, loadable by PyTorch's load_state_dict.",
        discussion: """
            The output holds exactly the PyTorch peer's state_dict (names, shapes, layouts), so \
            VAE(decoder).load_state_dict(safetensors.torch.load_file(OUT)) loads it strictly; the \
            metadata names the decoder and, for a checkpoint, keeps its configuration and training \
            state (steps, time, validation loss). --half stores the weights as float16.
            """)

    @Option(help: "The model file: a checkpoint, an exported model or a PyTorch state_dict.")
    var model: String

    @Option(help: "The .safetensors file to write.")
    var out: String

    @Flag(help: "Store weights as float16 (half the size).")
    var half = false

    func run() throws {
        let loaded = try ModelFile.load(path: model, requireEncoder: true)
        try ModelExport.write(loaded, to: out, half: half)
        let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        print("\(loaded.decoder.rawValue) model\(loaded.step.map { " (step \($0))" } ?? "") → \(out) "
              + "(\(loaded.model.stateDict.count) tensors, \(half ? "float16" : "float32"), \(size / 1024) KiB)")
    }
}
