import ArgumentParser
import Foundation
import NeuralCore
import TensorIO
import VAEFaces

struct AttributesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attributes",
        abstract: "Attribute vectors: for each CelebA attribute, the latent direction from faces without it to faces with it.",
        discussion: """
            For each of the 40 attributes of list_attr_celeba.txt: the mean posterior mean μ of the \
            split's images with the attribute minus the mean μ of those without (only the images \
            present; an attribute with fewer than 20 images on either side is reported and skipped). \
            Prints each attribute's counts and the direction's norm (--json: all of it) and writes \
            the vectors as safetensors ('directions' [40, latent], 'counts' [40, 2], the names in \
            the metadata) to --out, by default beside the model as NAME.attributes.safetensors, \
            the file `sample --edit` reads (train split only).
            """)

    @Option(help: "The model file (.safetensors: checkpoint, export or PyTorch state_dict).")
    var model: String

    @OptionGroup var data: DataOptions

    @Option(help: "The split the means are taken over: train, val or test.")
    var split: Split = .train

    @Option(help: "The vectors file to write (default: beside the model, NAME.attributes.safetensors).")
    var out: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        if split != .train && out == nil {
            throw ValidationError("vectors of the \(split.rawValue) split need --out FILE (the file beside the model holds the train split's, for `sample --edit`)")
        }
    }

    func run() throws {
        threads.apply()
        let loaded = try ModelFile.load(path: model, requireEncoder: true)
        let prepared = try data.open()
        let vectors = try AttributeVectors.compute(loaded.model, cache: prepared, split: split)
        let path = out ?? AttributeVectors.cachePath(forModel: model)
        try vectors.write(to: path, model: try ModelFileKey(file: model))
        if json {
            struct Entry: Encodable {
                var name: String, with: Int, without: Int, norm: Double?, skipped: Bool
            }
            struct Output: Encodable {
                var model: String, data: String, split: String, images: Int, latent_dimension: Int
                var minimum_images: Int, out: String, attributes: [Entry]
            }
            try printJSON(Output(model: model, data: vectors.dataFolder, split: split.rawValue, images: vectors.images,
                                 latent_dimension: vectors.latentDimension, minimum_images: vectors.minimumImages, out: path,
                                 attributes: vectors.attributes.map {
                                     Entry(name: $0.name, with: $0.imagesWith, without: $0.imagesWithout, norm: $0.norm,
                                           skipped: $0.direction == nil)
                                 }))
        } else {
            print("attribute vectors of \(model) on the \(split.rawValue) split (\(vectors.images) images) → \(path)")
            let width = max(9, vectors.attributes.map(\.name.count).max() ?? 0)
            print("attribute".padding(toLength: width, withPad: " ", startingAt: 0) + "   with  without    norm")
            for a in vectors.attributes {
                let counts = String(format: "%7d %8d", a.imagesWith, a.imagesWithout)
                let norm = a.norm.map { String(format: "%7.3f", $0) }
                    ?? "  skipped (fewer than \(vectors.minimumImages) images on a side)"
                print(a.name.padding(toLength: width, withPad: " ", startingAt: 0) + counts + " " + norm)
            }
        }
    }
}
