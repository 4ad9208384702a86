import ArgumentParser
import Foundation
import NeuralCore
import TensorIO
import VAEFaces

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Decode faces from a trained model into a grid PNG (and/or one PNG per face).",
        discussion: """
            The model file is a checkpoint, an exported model or a PyTorch state_dict of the peer's \
            VAE (safetensors); its decoder comes from the metadata or the tensor names. BatchNorm \
            uses its running averages. Random faces: z = temperature · ε, ε ~ N(0, I) from --seed \
            (the same seed as a training run gives that run's sample grid). --latents decodes an \
            N×latent NumPy array instead. --reconstruct shows test-split originals above their \
            reconstructions (decoded from the mean μ of q(z|x)). --interpolate makes rows that go \
            from one latent code to another (pairs of random codes, or rows 1–2, 3–4, … of \
            --latents), straight (--lerp, default) or along the great circle (--slerp). \
            Several --model files side by side: each model decodes the same latent vectors into \
            one row of --n faces (a comparison of decoders, as in the paper's Figure 9).
            --edit NAME=S adds S times the attribute's direction (see `vae-faces attributes`) to \
            every latent vector, several --edit adding up. With --reconstruct, each --edit makes \
            one row per test face (the first ⌊n/2⌋): the original, its reconstruction, then the \
            edit at each strength of NAME=LOW:HIGH:STEPS (or of the one strength S). The vectors \
            come from --vectors, else from NAME.attributes.safetensors beside the model, which \
            is computed on the train split of --data when missing or when the model file has \
            changed (its XXH64 and size are recorded).
            """)

    @Option(help: "The model file (.safetensors); several: one row per model from the same latent vectors.")
    var model: [String]

    @Option(help: "The grid PNG to write.")
    var out: String?

    @Option(help: "Also write every face as its own PNG into this folder (000000.png, …).")
    var each: String?

    @Option(help: "Grid columns (with --interpolate: the steps of each row).")
    var columns = 8

    @OptionGroup var prior: PriorOptions<SampleCommand>

    @Option(help: "Decode these latent vectors (a float .npy array of shape N×latent).")
    var latents: String?

    @Flag(help: "Test-split originals above their reconstructions (needs --data or --cache).")
    var reconstruct = false

    @Flag(help: "Rows of interpolations between pairs of latent codes.")
    var interpolate = false

    @Flag(help: "Interpolate along great circles (spherical) instead of straight lines.")
    var slerp = false

    @Option(help: ArgumentHelp("Add an attribute's direction to the latents, e.g. Smiling=1.5; with --reconstruct also a range LOW:HIGH:STEPS (repeatable).",
                               valueName: "NAME=S"))
    var edit: [String] = []

    @Option(help: "The attribute vectors for --edit (default: NAME.attributes.safetensors beside the model, computed when missing).")
    var vectors: String?

    /// For --reconstruct and for computing attribute vectors.
    @OptionGroup var data: DataOptions

    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        guard !model.isEmpty else { throw ValidationError("give a --model file") }
        if model.count > 1 && (reconstruct || interpolate || each != nil || out == nil) {
            throw ValidationError("several --model files make one comparison grid: give --out, without --reconstruct, --interpolate or --each")
        }
        guard out != nil || each != nil else { throw ValidationError("say where to write: --out grid.png and/or --each DIR") }
        guard columns > 0 else { throw ValidationError("--columns must be positive, got \(columns)") }
        if reconstruct && (interpolate || latents != nil) {
            throw ValidationError("--reconstruct encodes test images; it cannot be combined with --interpolate or --latents")
        }
        if slerp && !interpolate { throw ValidationError("--slerp needs --interpolate") }
        if interpolate && columns < 2 { throw ValidationError("--interpolate needs at least 2 --columns (the two ends)") }
        let edits = try self.edits
        if edits.isEmpty && vectors != nil { throw ValidationError("--vectors goes with --edit") }
        if !edits.isEmpty && model.count > 1 { throw ValidationError("--edit works with one --model (the vectors belong to it)") }
        if !reconstruct, let range = edits.first(where: \.isRange) {
            throw ValidationError("--edit \(range.attribute)=LOW:HIGH:STEPS needs --reconstruct; on random or given latents each --edit is one strength")
        }
        if reconstruct && !edits.isEmpty && each != nil { throw ValidationError("--each does not go with --reconstruct --edit") }
    }

    /// The --edit options, parsed.
    var edits: [AttributeEdit] {
        get throws {
            do {
                return try edit.map(AttributeEdit.init(parsing:))
            } catch let error as VAEFacesError {
                throw ValidationError(error.message)
            }
        }
    }

    func run() throws {
        threads.apply()
        if model.count > 1 { return try compareModels() }
        let model = self.model[0]
        let loaded = try ModelFile.load(path: model, requireEncoder: reconstruct)
        let vae = loaded.model
        let d = vae.configuration.latentDimension
        let edits = try self.edits
        let prepared = reconstruct ? try data.open() : nil
        let attributeVectors = edits.isEmpty ? nil : try AttributeVectors.forEditing(
            loaded, vectorsFile: vectors, data: { try prepared ?? (data.isGiven ? data.open() : nil) }, note: printError)
        var tiles: [Image8]
        var columns = self.columns
        if let prepared {
            let test = prepared.indices(in: .test)
            guard !test.isEmpty else { throw FileError(file: prepared.path, "the test split is empty") }
            if let attributeVectors {
                let faces = Array(test.prefix(max(1, prior.n / 2)))
                (tiles, columns) = try attributeVectors.editRows(vae, cache: prepared, indices: faces, edits: edits)
            } else {
                let grid = Sampler.reconstructionTiles(vae, cache: prepared, indices: test, count: prior.n, columns: columns)
                tiles = grid.tiles
                if let each { try Sampler.writeEach(grid.reconstructions, to: each) }
            }
        } else {
            var z: Tensor
            if interpolate {
                let rows = max(1, prior.n / columns)
                let codes = try latents.map { try LatentCodes.read(npy: $0, dimension: d) }
                    ?? prior.codes(count: 2 * rows, dimension: d)
                guard codes.shape[0] >= 2 else {
                    throw FileError(file: latents ?? model, "--interpolate needs at least two latent vectors")
                }
                z = LatentCodes.interpolations(betweenPairsOf: codes, rows: rows, steps: columns, spherical: slerp)
            } else if let latents {
                z = try LatentCodes.read(npy: latents, dimension: d)
            } else {
                z = prior.codes(dimension: d)
            }
            if let attributeVectors {
                z = try attributeVectors.edited(z, by: edits.map { ($0.attribute, $0.strengths[0]) })
            }
            tiles = Sampler.decode(vae, latents: z)
            if let each { try Sampler.writeEach(tiles, to: each) }
        }
        if let out { try PNG.write(Grid.make(tiles: tiles, columns: columns), to: out) }
        let what = (reconstruct ? "\(tiles.count) tiles (originals and reconstructions\(edits.isEmpty ? "" : ", then edits"))" : "\(tiles.count) faces")
            + (edits.isEmpty ? "" : " edited by " + edit.joined(separator: ", "))
        printError("\(loaded.decoder.rawValue) model (decoder from \(loaded.decoderSource)\(loaded.step.map { ", step \($0)" } ?? "")): "
                   + "\(what)\(out.map { " → \($0)" } ?? "")\(each.map { " and \($0)/" } ?? "")")
    }

    /// One row per model, each decoding the same latent vectors (--latents, or the prior of --seed).
    private func compareModels() throws {
        let models = try model.map { try ModelFile.load(path: $0) }
        let d = models[0].model.configuration.latentDimension
        if let other = models.first(where: { $0.model.configuration.latentDimension != d }) {
            throw FileError(file: other.path, "latent size \(other.model.configuration.latentDimension) differs from \(models[0].path)'s \(d)")
        }
        let z = try latents.map { try LatentCodes.read(npy: $0, dimension: d) }
            ?? prior.codes(dimension: d)
        let tiles = models.flatMap { Sampler.decode($0.model, latents: z) }
        try PNG.write(Grid.make(tiles: tiles, columns: z.shape[0]), to: out!)
        printError("rows: " + models.map(\.decoder.rawValue).joined(separator: ", ") + " → \(out!)")
    }
}

extension SampleCommand: PriorOptionsContext {
    static let defaultCount = 64
    static let countHelp = "Number of faces (with --interpolate: rows × --columns)."
    static let scope = ""
}
