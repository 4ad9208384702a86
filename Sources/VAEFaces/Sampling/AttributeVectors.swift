import Foundation
import NeuralCore
import TensorIO

/// Attribute directions in latent space, from CelebA's 40 annotations (`list_attr_celeba.txt`):
/// for each attribute, the mean posterior mean μ(x) of the images that have it minus that of the
/// images that do not, over one split. Adding a multiple of a direction to a latent code moves its
/// face towards (or, negative, away from) the attribute ("add a smile").
///
/// An attribute with fewer than `minimumImages` images on either side has too noisy a mean: it is
/// skipped (kept with its counts, without a direction). Images the attribute file has no row for
/// count on neither side.
public struct AttributeVectors: Sendable {
    /// Fewer images than this on either side of an attribute and it is skipped.
    public static let defaultMinimumImages = 20

    /// One attribute: its counts over the split and its direction.
    public struct Attribute: Sendable, Equatable {
        public let name: String
        /// Images of the split with the attribute (value 1) and without it (value −1).
        public let imagesWith: Int
        public let imagesWithout: Int
        /// mean μ(with) − mean μ(without), [latent]; nil when the attribute is skipped.
        public let direction: [Float]?

        public init(name: String, imagesWith: Int, imagesWithout: Int, direction: [Float]?) {
            self.name = name
            self.imagesWith = imagesWith
            self.imagesWithout = imagesWithout
            self.direction = direction
        }

        /// The direction's Euclidean length, nil when skipped.
        public var norm: Double? {
            direction.map { $0.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
        }
    }

    /// Every attribute of the annotation file, in its order (skipped ones included).
    public let attributes: [Attribute]
    public let latentDimension: Int
    /// The split the means are taken over, its image count, and the data folder.
    public let split: Split
    public let images: Int
    public let dataFolder: String
    public let minimumImages: Int

    public init(attributes: [Attribute], latentDimension: Int, split: Split, images: Int, dataFolder: String,
                minimumImages: Int = defaultMinimumImages) {
        precondition(attributes.allSatisfy { $0.direction == nil || $0.direction!.count == latentDimension },
                     "AttributeVectors: directions of another length than \(latentDimension)")
        self.attributes = attributes
        self.latentDimension = latentDimension
        self.split = split
        self.images = images
        self.dataFolder = dataFolder
        self.minimumImages = minimumImages
    }

    /// The attributes skipped for too few images on a side.
    public var skipped: [Attribute] { attributes.filter { $0.direction == nil } }

    // MARK: Computing

    /// The directions of every attribute of `cache` over `split`, from the posterior means of
    /// `model` (encoder in inference mode, `batchSize` images at a time), summed in Double.
    /// A cache without attributes (no `list_attr_celeba.txt` when it was prepared) or an empty
    /// split is a one-line error naming the file.
    public static func compute(_ model: VAE, cache: PreparedCache, split: Split,
                               minimumImages: Int = defaultMinimumImages, batchSize: Int = 64) throws -> AttributeVectors {
        let names = cache.attributeNames
        guard !names.isEmpty else {
            throw FileError(file: cache.dataFolder + "/" + DataFolder.attributeName,
                            "not found: attribute vectors need CelebA's attribute annotations in the data folder "
                            + "(a CelebA folder with \(DataFolder.celebAImages)/ and \(DataFolder.attributeName); see \"Getting CelebA\" in the README)")
        }
        let indices = cache.indices(in: split)
        guard !indices.isEmpty else { throw FileError(file: cache.path, "the \(split.rawValue) split is empty") }
        let d = model.configuration.latentDimension
        let means = Sampler.posteriorMeans(model, cache: cache, indices: indices, batchSize: batchSize)
        // sums[(2a + side)·d + j]: Σ μ_j over the images with (side 0) or without (side 1) attribute a.
        var sums = [Double](repeating: 0, count: 2 * names.count * d)
        var counts = [Int](repeating: 0, count: 2 * names.count)
        for (n, index) in indices.enumerated() {
            let values = cache.attributes(index)
            let mu = means.pointer + n * d
            for a in names.indices where values[a] != 0 {
                let slot = 2 * a + (values[a] > 0 ? 0 : 1)
                counts[slot] += 1
                for j in 0..<d { sums[slot * d + j] += Double(mu[j]) }
            }
        }
        let attributes = names.indices.map { a in
            let (with, without) = (counts[2 * a], counts[2 * a + 1])
            let direction: [Float]? = min(with, without) < minimumImages ? nil : (0..<d).map { j in
                Float(sums[2 * a * d + j] / Double(with) - sums[(2 * a + 1) * d + j] / Double(without))
            }
            return Attribute(name: names[a], imagesWith: with, imagesWithout: without, direction: direction)
        }
        return AttributeVectors(attributes: attributes, latentDimension: d, split: split, images: indices.count,
                                dataFolder: cache.dataFolder, minimumImages: minimumImages)
    }

    // MARK: Looking up

    /// The direction of attribute `name`; an unknown name is an error listing the valid ones,
    /// a skipped attribute one giving its counts.
    public func direction(_ name: String) throws -> [Float] {
        guard let attribute = attributes.first(where: { $0.name == name }) else {
            throw VAEFacesError("unknown attribute '\(name)'; the attributes are: "
                                + attributes.map(\.name).joined(separator: ", "))
        }
        guard let direction = attribute.direction else {
            throw VAEFacesError("attribute '\(name)' has no vector: \(attribute.imagesWith) images with it and "
                                + "\(attribute.imagesWithout) without in the \(split.rawValue) split (at least \(minimumImages) on each side are needed)")
        }
        return direction
    }

    // MARK: The file

    /// The `"format"` metadata value that marks a vectors file.
    public static let format = "vae-faces-attribute-vectors"

    /// Writes the vectors as safetensors, atomically (a temporary file renamed into place):
    /// `directions` [A, latent] (row a the direction of attribute a, zeros for a skipped one) and
    /// `counts` [A, 2] (images with, without; float32, exact below 2²⁴), with metadata `format`,
    /// `attributes` (the names, comma-separated, in row order), `split`, `images`, `data`,
    /// `minimum_images`, `latent_dimension`, and `model_xxh64`/`model_bytes`, the key of the
    /// model file they were computed from (`ModelFileKey`). A name with a comma cannot be stored.
    public func write(to path: String, model: ModelFileKey) throws {
        if let bad = attributes.first(where: { $0.name.contains(",") }) {
            throw FileError(file: path, "cannot store the attribute name '\(bad.name)': the names are kept comma-separated")
        }
        var writer = SafeTensorsWriter(metadata: [
            "format": Self.format, "attributes": attributes.map(\.name).joined(separator: ","),
            "split": split.rawValue, "images": String(images), "data": dataFolder,
            "minimum_images": String(minimumImages), "latent_dimension": String(latentDimension),
            "model_xxh64": hex(model.xxh64), "model_bytes": String(model.bytes),
        ])
        let zeros = [Float](repeating: 0, count: latentDimension)
        writer.add("directions", shape: [attributes.count, latentDimension],
                   values: attributes.flatMap { $0.direction ?? zeros })
        writer.add("counts", shape: [attributes.count, 2],
                   values: attributes.flatMap { [Float($0.imagesWith), Float($0.imagesWithout)] })
        try writer.write(to: path)
    }

    /// Reads a vectors file written by `write`, and the key of the model it was computed from.
    /// `latentDimension`: the model's latent size, which the vectors must have. A file that is
    /// not a vectors file, is damaged, or has another latent size is a one-line error naming it.
    public static func read(path: String, latentDimension: Int? = nil) throws -> (vectors: AttributeVectors, model: ModelFileKey?) {
        let archive = try SafeTensorsArchive.read(path: path)
        func bad(_ problem: String) -> FileError { FileError(file: path, problem) }
        let metadata = archive.metadata
        guard metadata["format"] == format else {
            throw bad("not an attribute vectors file (no \"format\": \"\(format)\" metadata; `vae-faces attributes` writes them)")
        }
        let names = (metadata["attributes"] ?? "").split(separator: ",").map(String.init)
        guard !names.isEmpty, let shape = archive.shape("directions"), shape.count == 2, shape[0] == names.count, shape[1] > 0,
              archive.shape("counts") == [names.count, 2] else {
            throw bad("damaged attribute vectors file: expected 'directions' [\(names.count), latent] and 'counts' [\(names.count), 2] for its \(names.count) attribute names")
        }
        let d = shape[1]
        if let latentDimension, latentDimension != d {
            throw bad("attribute vectors of latent size \(d), but the model has latent size \(latentDimension): compute them for this model with `vae-faces attributes`")
        }
        guard let split = metadata["split"].flatMap(Split.init(rawValue:)),
              let minimum = metadata["minimum_images"].flatMap({ Int($0) }),
              let images = metadata["images"].flatMap({ Int($0) }) else {
            throw bad("damaged attribute vectors file: its metadata lacks the split, image count or minimum")
        }
        let directions = try archive.floats("directions"), counts = try archive.floats("counts")
        guard directions.allSatisfy(\.isFinite), counts.allSatisfy({ $0 >= 0 && $0 == $0.rounded() }) else {
            throw bad("damaged attribute vectors file: a non-finite direction or a count that is not a whole number")
        }
        let attributes = names.indices.map { a in
            let (with, without) = (Int(counts[2 * a]), Int(counts[2 * a + 1]))
            return Attribute(name: names[a], imagesWith: with, imagesWithout: without,
                             direction: min(with, without) < minimum ? nil : Array(directions[(a * d)..<((a + 1) * d)]))
        }
        let key = metadata["model_xxh64"].flatMap { UInt64($0, radix: 16) }.flatMap { hash in
            metadata["model_bytes"].flatMap { Int($0) }.map { ModelFileKey(xxh64: hash, bytes: $0) }
        }
        return (AttributeVectors(attributes: attributes, latentDimension: d, split: split, images: images,
                                 dataFolder: metadata["data"] ?? "", minimumImages: minimum), key)
    }
}

/// What identifies a model file's contents for the attribute vectors cached beside it: the XXH64
/// of its bytes and its size. A file rewritten with other weights gets another key, while one
/// merely copied or touched (a new modification time, the same bytes) keeps its key.
public struct ModelFileKey: Equatable, Sendable {
    public let xxh64: UInt64
    public let bytes: Int

    public init(xxh64: UInt64, bytes: Int) {
        self.xxh64 = xxh64
        self.bytes = bytes
    }

    /// The key of the file at `path` (read memory-mapped; some milliseconds for a model).
    public init(file path: String) throws {
        let data = try FileRead.contents(of: path, mapped: true)
        self.init(xxh64: data.withUnsafeBytes { XXH64.hash($0) }, bytes: data.count)
    }
}
