import Foundation
import NeuralCore
import TensorIO

/// One `--edit`: an attribute and the strengths to add its direction at.
///
/// `NAME=S` is one strength (z + S·v); `NAME=LOW:HIGH:STEPS` is STEPS evenly spaced strengths
/// from LOW to HIGH, both included (for the rows of `sample --reconstruct`).
public struct AttributeEdit: Equatable, Sendable {
    public let attribute: String
    public let strengths: [Float]

    public init(attribute: String, strengths: [Float]) {
        precondition(!strengths.isEmpty, "AttributeEdit: no strength")
        self.attribute = attribute
        self.strengths = strengths
    }

    /// Parses `NAME=S` or `NAME=LOW:HIGH:STEPS` (e.g. `Smiling=+1.5`, `Smiling=0:2:5`).
    public init(parsing text: String) throws {
        let invalid = VAEFacesError("--edit \(text): expected NAME=STRENGTH (Smiling=1.5) or NAME=LOW:HIGH:STEPS (Smiling=0:2:5)")
        guard let equals = text.firstIndex(of: "=") else { throw invalid }
        let name = String(text[..<equals]), value = text[text.index(after: equals)...]
        guard !name.isEmpty else { throw invalid }
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            guard let strength = Float(parts[0]), strength.isFinite else { throw invalid }
            self.init(attribute: name, strengths: [strength])
        case 3:
            guard let low = Float(parts[0]), let high = Float(parts[1]), low.isFinite, high.isFinite, low < high,
                  let steps = Int(parts[2]), steps >= 2 else {
                throw VAEFacesError("--edit \(text): a range is LOW:HIGH:STEPS with LOW < HIGH and at least 2 steps, e.g. \(name)=0:2:5")
            }
            self.init(attribute: name, strengths: Traversal.sweep(low...high, steps: steps))
        default:
            throw invalid
        }
    }

    /// Whether it names more than one strength.
    public var isRange: Bool { strengths.count > 1 }
}

extension AttributeVectors {
    /// The codes z + Σ s·v_a of `latents` [N, latent] moved by each (attribute, strength) pair,
    /// as a new tensor; an unknown or skipped attribute is a one-line error.
    public func edited(_ latents: Tensor, by edits: [(attribute: String, strength: Float)]) throws -> Tensor {
        let d = latents.shape[1]
        precondition(d == latentDimension, "AttributeVectors.edited: codes of \(d) values, vectors of \(latentDimension)")
        let moved = Tensor(shape: latents.shape)
        moved.copy(from: latents)
        for edit in edits {
            let v = try direction(edit.attribute)
            for n in 0..<latents.shape[0] {
                let row = moved.pointer + n * d
                for j in 0..<d { row[j] += edit.strength * v[j] }
            }
        }
        return moved
    }

    /// The tiles of an edit grid: for each edit in turn, one row per cache image of `indices`:
    /// the original, its reconstruction σ(decoder(μ)), then σ(decoder(μ + s·v)) for each strength
    /// s of the edit. Rows have 2 + the most strengths of any edit tiles (`columns`), shorter ones
    /// padded with blank tiles.
    public func editRows(_ model: VAE, cache: PreparedCache, indices: [Int],
                         edits: [AttributeEdit]) throws -> (tiles: [Image8], columns: Int) {
        precondition(!edits.isEmpty, "AttributeVectors.editRows: no edit")
        let means = Sampler.posteriorMeans(model, cache: cache, indices: indices)
        let originals = indices.map(cache.image8)
        let reconstructions = Sampler.decode(model, latents: means)
        let columns = 2 + edits.map(\.strengths.count).max()!
        let blank = Image8(width: originals[0].width, height: originals[0].height, fill: Grid.background)
        var tiles = [Image8]()
        for edit in edits {
            var faces = [Image8]()
            for strength in edit.strengths {
                faces += Sampler.decode(model, latents: try edited(means, by: [(edit.attribute, strength)]))
            }
            // faces[s·N + n]: image n at strength s.
            for n in indices.indices {
                tiles += [originals[n], reconstructions[n]]
                tiles += edit.strengths.indices.map { faces[$0 * indices.count + n] }
                tiles += Array(repeating: blank, count: columns - 2 - edit.strengths.count)
            }
        }
        return (tiles, columns)
    }

    // MARK: Vectors for editing, cached beside the model

    /// Where the vectors computed on demand for the model file `modelPath` are cached:
    /// `NAME.attributes.safetensors` beside `NAME.safetensors`.
    public static func cachePath(forModel modelPath: String) -> String {
        let url = URL(fileURLWithPath: modelPath)
        let stem = url.pathExtension == "safetensors" ? url.deletingPathExtension().lastPathComponent : url.lastPathComponent
        return url.deletingLastPathComponent().appendingPathComponent(stem + ".attributes.safetensors").path
    }

    /// The vectors `sample --edit` uses with `loaded`:
    ///
    /// - `vectorsFile` given: that file (its latent size must be the model's; a note when it was
    ///   computed from another model file).
    /// - Else the cache beside the model (`cachePath(forModel:)`) when its model key (the XXH64 and
    ///   size of the model file, `ModelFileKey`) is the model file's and its split is train.
    /// - Else computed on the train split of `data()` (nil: no data given, an error that says what
    ///   to give) and written to that cache (a note if it cannot be written). A stale cache is
    ///   replaced with a note; a file there that is not a vectors file is refused, never overwritten.
    public static func forEditing(_ loaded: LoadedModel, vectorsFile: String?, data: () throws -> PreparedCache?,
                                  note: (String) -> Void) throws -> AttributeVectors {
        let d = loaded.model.configuration.latentDimension
        let key = try ModelFileKey(file: loaded.path)
        if let vectorsFile {
            let (vectors, recorded) = try read(path: vectorsFile, latentDimension: d)
            if let recorded, recorded != key { note("\(vectorsFile): computed from another model file than \(loaded.path)") }
            return vectors
        }
        let path = cachePath(forModel: loaded.path)
        if FileManager.default.fileExists(atPath: path) {
            let cached: (vectors: AttributeVectors, model: ModelFileKey?)
            do {
                cached = try read(path: path)
            } catch let error as FileError {
                throw FileError(file: path, "\(error.problem); it is left alone: remove it, or give --vectors FILE")
            }
            if cached.model == key && cached.vectors.split == .train && cached.vectors.latentDimension == d {
                note("attribute vectors from \(path)")
                return cached.vectors
            }
            note("\(path) is stale (computed from another version of \(loaded.path)); recomputing it")
        }
        guard let cache = try data() else {
            throw VAEFacesError("--edit needs the attribute vectors of \(loaded.path): give --data DIR (or --cache) to compute them "
                                + "once on the train split (they are then kept in \(path)), or --vectors FILE")
        }
        guard loaded.hasEncoder else {
            throw FileError(file: loaded.path, "holds only a decoder, so attribute vectors cannot be computed from it; give --vectors FILE")
        }
        note("computing the attribute vectors on the train split of \(cache.dataFolder) (\(cache.indices(in: .train).count) images) → \(path)")
        let vectors = try compute(loaded.model, cache: cache, split: .train)
        do {
            try vectors.write(to: path, model: key)
        } catch {
            note("\(error); the vectors are used but not kept")
        }
        return vectors
    }
}
