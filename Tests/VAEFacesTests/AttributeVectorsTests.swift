import Foundation
import NeuralCore
import TensorIO
import Testing
@testable import vae_faces
import VAEFaces

/// A CelebA-shaped folder made here: 44 smooth 178×218 JPEGs, images 0–40 in the train split
/// and 41–43 in the test split, with two attributes in `list_attr_celeba.txt`: "Wide" on images
/// 0–19 and off on 20–39 (20 on each side: just enough), "Rare" on every eighth image (5 of the
/// train split: skipped). Image 40 has no attribute row, so it counts on neither side.
/// Returns the folder, its prepared cache and each image's attribute values (nil: no row).
private func makeAttributeFolder(_ name: String = #function) throws -> (root: String, cache: PreparedCache, values: [[Int8]?]) {
    let root = try makeTemporaryFolder(name)
    var partition = "", attributes = "44\r\nWide Rare \r\n"
    var values = [[Int8]?]()
    for i in 0..<44 {
        let file = String(format: "%06d.jpg", i + 1)
        try write(try encodeJPEG(smoothImage(width: 178, height: 218, seed: i)), to: root + "/img_align_celeba/" + file)
        partition += "\(file) \(i <= 40 ? 0 : 2)\r\n"
        guard i != 40 else { values.append(nil); continue }
        let row: [Int8] = [i < 20 ? 1 : -1, i % 8 == 0 ? 1 : -1]
        values.append(row)
        attributes += file + row.map { $0 == 1 ? "  1" : " -1" }.joined() + "\r\n"
    }
    try write(Data(partition.utf8), to: root + "/list_eval_partition.txt")
    try write(Data(attributes.utf8), to: root + "/list_attr_celeba.txt")
    let summary = try DataPreparation.prepare(dataFolder: root, cachePath: root + "/cache/c.vfcache", threads: 2)
    return (root, try PreparedCache.open(path: summary.cache), values)
}

/// The direction of each attribute computed here, image by image: every image encoded alone,
/// the posterior means averaged in Double on each side. nil where a side has fewer than 20.
private func independentDirections(_ model: VAE, cache: PreparedCache, indices: [Int],
                                   values: (Int) -> [Int8]?, attributes: Int) -> [(with: Int, without: Int, direction: [Double]?)] {
    let d = model.configuration.latentDimension
    var sums = [[Double]](repeating: [Double](repeating: 0, count: d), count: 2 * attributes)
    var counts = [Int](repeating: 0, count: 2 * attributes)
    for index in indices {
        guard let row = values(index) else { continue }
        let mu = model.encoder.forward(TrainingTestData.images(cache, [index]), mode: .inference).mu.array
        for a in 0..<attributes where row[a] != 0 {
            let side = row[a] == 1 ? 0 : 1
            counts[2 * a + side] += 1
            for j in 0..<d { sums[2 * a + side][j] += Double(mu[j]) }
        }
    }
    return (0..<attributes).map { a in
        let (with, without) = (counts[2 * a], counts[2 * a + 1])
        guard with >= 20 && without >= 20 else { return (with, without, nil) }
        return (with, without, (0..<d).map { sums[2 * a][$0] / Double(with) - sums[2 * a + 1][$0] / Double(without) })
    }
}

/// Whether `direction` equals the independent one to float rounding (batched and single-image
/// encodings may differ in the last bits).
private func close(_ direction: [Float], _ expected: [Double]) -> Bool {
    direction.count == expected.count && zip(direction, expected).allSatisfy { abs(Double($0) - $1) <= 1e-5 + 1e-4 * abs($1) }
}

/// Hand-made vectors of latent size `d`: "Smiling" and "Eyeglasses" with seeded directions,
/// "Bald" skipped.
private func handMadeVectors(_ d: Int) -> AttributeVectors {
    let directions = LatentCodes.prior(count: 2, dimension: d, seed: 8)
    return AttributeVectors(attributes: [
        .init(name: "Smiling", imagesWith: 30, imagesWithout: 40, direction: LatentCodes.row(directions, 0)),
        .init(name: "Bald", imagesWith: 3, imagesWithout: 67, direction: nil),
        .init(name: "Eyeglasses", imagesWith: 25, imagesWithout: 45, direction: LatentCodes.row(directions, 1)),
    ], latentDimension: d, split: .train, images: 70, dataFolder: "/data/celeba")
}

@Suite struct AttributeEditTests {
    @Test func editsAreParsed() throws {
        #expect(try AttributeEdit(parsing: "Smiling=+1.5") == AttributeEdit(attribute: "Smiling", strengths: [1.5]))
        #expect(try AttributeEdit(parsing: "Eyeglasses=-1").strengths == [-1])
        let range = try AttributeEdit(parsing: "Smiling=0:2:5")
        #expect(range.attribute == "Smiling" && range.strengths == [0, 0.5, 1, 1.5, 2] && range.isRange)
        for bad in ["Smiling", "=1", "Smiling=", "Smiling=x", "Smiling=1:2", "Smiling=2:0:5", "Smiling=0:2:1", "Smiling=0:2:x", "Smiling=inf"] {
            let message = try #require(errorMessage { _ = try AttributeEdit(parsing: bad) }, "\(bad)")
            #expect(message.hasPrefix("--edit \(bad): ") && !message.contains("\n"), "\(message)")
        }
    }

    /// z + 0·v decodes to exactly the plain faces; other strengths move z by s·v, and edits add up.
    @Test func strengthZeroIsThePlainDecode() throws {
        let model = VAE(configuration: VAEConfiguration(latentDimension: 16, decoder: .resizeconv), seed: 1)
        let vectors = handMadeVectors(16)
        let z = LatentCodes.prior(count: 5, dimension: 16, seed: 3)
        let plain = Sampler.decode(model, latents: z)
        #expect(Sampler.decode(model, latents: try vectors.edited(z, by: [("Smiling", 0)])) == plain)
        #expect(Sampler.decode(model, latents: try vectors.edited(z, by: [("Smiling", 0), ("Eyeglasses", 0)])) == plain)
        let smile = try vectors.direction("Smiling"), glasses = try vectors.direction("Eyeglasses")
        let both = try vectors.edited(z, by: [("Smiling", 1.5), ("Eyeglasses", -1)])
        for n in 0..<5 {
            let row = LatentCodes.row(z, n), moved = LatentCodes.row(both, n)
            for j in 0..<16 { #expect(moved[j] == row[j] + 1.5 * smile[j] + -1 * glasses[j], "face \(n), dimension \(j)") }
        }
        #expect(Sampler.decode(model, latents: both) != plain)
        #expect(z.array == LatentCodes.prior(count: 5, dimension: 16, seed: 3).array)    // the input is left as it was
    }

    @Test func badAttributeNamesAreOneLineErrorsListingTheValidOnes() throws {
        let vectors = handMadeVectors(4)
        let unknown = try #require(errorMessage { _ = try vectors.direction("Smilling") })
        #expect(unknown == "unknown attribute 'Smilling'; the attributes are: Smiling, Bald, Eyeglasses")
        let z = LatentCodes.prior(count: 1, dimension: 4, seed: 0)
        #expect(errorMessage { _ = try vectors.edited(z, by: [("smiling", 1)]) } == "unknown attribute 'smiling'; the attributes are: Smiling, Bald, Eyeglasses")
        let skipped = try #require(errorMessage { _ = try vectors.direction("Bald") })
        #expect(skipped == "attribute 'Bald' has no vector: 3 images with it and 67 without in the train split (at least 20 on each side are needed)")
    }

    @Test func vectorsFilesRoundTripAndRefuseOtherLatentSizesAndForeignFiles() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let vectors = handMadeVectors(16)
        let key = ModelFileKey(xxh64: 0x0123_4567_89AB_CDEF, bytes: 12345)
        try vectors.write(to: folder + "/v.safetensors", model: key)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["v.safetensors"])   // no temporary file left
        let (read, recorded) = try AttributeVectors.read(path: folder + "/v.safetensors", latentDimension: 16)
        #expect(read.attributes == vectors.attributes && recorded == key)
        #expect(read.latentDimension == 16 && read.split == .train && read.images == 70 && read.dataFolder == "/data/celeba")
        // The plain safetensors layout, as Python's safetensors reads it.
        let archive = try SafeTensorsArchive.read(path: folder + "/v.safetensors")
        #expect(archive.shape("directions") == [3, 16] && archive.metadata["attributes"] == "Smiling,Bald,Eyeglasses")
        #expect(try archive.floats("counts") == [30, 40, 3, 67, 25, 45])
        #expect(Array(try archive.floats("directions")[16..<32]) == [Float](repeating: 0, count: 16))

        let otherSize = try #require(errorMessage { _ = try AttributeVectors.read(path: folder + "/v.safetensors", latentDimension: 128) })
        #expect(otherSize.hasPrefix(folder + "/v.safetensors: attribute vectors of latent size 16, but the model has latent size 128")
                && !otherSize.contains("\n"), "\(otherSize)")
        try ModelExport.write(VAE(configuration: VAEConfiguration(latentDimension: 16, decoder: .dcl), seed: 1), to: folder + "/model.safetensors")
        let foreign = try #require(errorMessage { _ = try AttributeVectors.read(path: folder + "/model.safetensors") })
        #expect(foreign.hasPrefix(folder + "/model.safetensors: not an attribute vectors file"), "\(foreign)")
        #expect(errorMessage { _ = try AttributeVectors.read(path: folder + "/none.safetensors") } == folder + "/none.safetensors: no such file (expected a safetensors file)")
        let comma = AttributeVectors(attributes: [.init(name: "Big,Nose", imagesWith: 0, imagesWithout: 0, direction: nil)],
                                     latentDimension: 4, split: .train, images: 0, dataFolder: "")
        #expect(errorMessage { try comma.write(to: folder + "/comma.safetensors", model: key) }
                == folder + "/comma.safetensors: cannot store the attribute name 'Big,Nose': the names are kept comma-separated")
    }

    @Test func theCacheLivesBesideTheModel() {
        #expect(AttributeVectors.cachePath(forModel: "/m/pixeldcl.safetensors") == "/m/pixeldcl.attributes.safetensors")
        #expect(AttributeVectors.cachePath(forModel: "/m/run/best") == "/m/run/best.attributes.safetensors")
    }

    @Test func aFolderWithoutAttributesIsAOneLineErrorNamingTheFile() throws {
        let (root, _) = try makeFaceFolder(count: 6)
        defer { try? FileManager.default.removeItem(atPath: (root as NSString).deletingLastPathComponent) }
        let summary = try DataPreparation.prepare(dataFolder: root, cachePath: root + "/../c.vfcache", threads: 1)
        let cache = try PreparedCache.open(path: summary.cache)
        let model = VAE(configuration: VAEConfiguration(latentDimension: 8, decoder: .resizeconv), seed: 1)
        let message = try #require(errorMessage { _ = try AttributeVectors.compute(model, cache: cache, split: .train) })
        #expect(message.hasPrefix(cache.dataFolder + "/list_attr_celeba.txt: not found: attribute vectors need CelebA's attribute annotations")
                && !message.contains("\n"), "\(message)")
    }

    @Test func editOptionsAreChecked() throws {
        let ok = try SampleCommand.parse(["--model", "m", "--out", "g.png", "--edit", "Smiling=+1.5", "--edit", "Eyeglasses=-1"])
        #expect(try ok.edits == [AttributeEdit(attribute: "Smiling", strengths: [1.5]), AttributeEdit(attribute: "Eyeglasses", strengths: [-1])])
        let rows = try SampleCommand.parse(["--model", "m", "--out", "g.png", "--reconstruct", "--edit", "Smiling=0:2:5", "--vectors", "v"])
        #expect(try rows.edits.first?.strengths.count == 5 && rows.vectors == "v")
        for bad in [["--model", "m", "--out", "g.png", "--edit", "Smiling=0:2:5"],                 // a range needs --reconstruct
                    ["--model", "m", "--out", "g.png", "--edit", "Smiling"],
                    ["--model", "m", "--out", "g.png", "--vectors", "v"],                           // --vectors without --edit
                    ["--model", "m", "--model", "n", "--out", "g.png", "--edit", "Smiling=1"],
                    ["--model", "m", "--out", "g.png", "--each", "d", "--reconstruct", "--edit", "Smiling=1"]] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try SampleCommand.parse(bad) }
        }
        #expect(try AttributesCommand.parse(["--model", "m", "--data", "d", "--json"]).split == .train)
        #expect(try AttributesCommand.parse(["--model", "m", "--split", "val", "--out", "v"]).split == .val)
        #expect(throws: (any Error).self) { _ = try AttributesCommand.parse(["--model", "m", "--split", "val"]) }
        #expect(VAEFacesCommand.configuration.subcommands.contains { $0.configuration.commandName == "attributes" })
    }
}

@Suite struct AttributeFolderTests {
    /// On the folder's train split: the counts and directions equal the computation image by
    /// image; "Rare" (5 images with it) is skipped; image 40 (no row) counts on neither side.
    @Test func vectorsEqualAnIndependentComputation() throws {
        let (root, cache, values) = try makeAttributeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let model = warmedModel(cache, latent: 16, decoder: .resizeconv)
        let vectors = try AttributeVectors.compute(model, cache: cache, split: .train, batchSize: 7)
        #expect(vectors.attributes.map(\.name) == ["Wide", "Rare"] && vectors.images == 41 && vectors.split == .train)
        let expected = independentDirections(model, cache: cache, indices: cache.indices(in: .train),
                                              values: { values[Int(cache.fileName($0).prefix(6))! - 1] }, attributes: 2)
        #expect(expected.map(\.with) == [20, 5] && expected.map(\.without) == [20, 35])
        for (attribute, truth) in zip(vectors.attributes, expected) {
            #expect(attribute.imagesWith == truth.with && attribute.imagesWithout == truth.without, "\(attribute.name)")
            #expect((attribute.direction == nil) == (truth.direction == nil), "\(attribute.name)")
            if let direction = attribute.direction, let truth = truth.direction {
                #expect(close(direction, truth), "\(attribute.name): \(direction) vs \(truth)")
            }
        }
        #expect(vectors.skipped.map(\.name) == ["Rare"])
    }

    /// Rows of --reconstruct --edit: original, reconstruction, the edits; strength 0 is the
    /// reconstruction itself; a shorter edit's row is padded with blank tiles.
    @Test func editRowsStartWithTheOriginalAndItsReconstruction() throws {
        let (root, cache, _) = try makeAttributeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let model = warmedModel(cache, latent: 16, decoder: .resizeconv)
        let vectors = try AttributeVectors.compute(model, cache: cache, split: .train)
        let test = cache.indices(in: .test)
        let edits = [try AttributeEdit(parsing: "Wide=-1:1:3"), try AttributeEdit(parsing: "Wide=2")]
        let (tiles, columns) = try vectors.editRows(model, cache: cache, indices: test, edits: edits)
        #expect(columns == 5 && tiles.count == 2 * test.count * 5)
        let (originals, reconstructions) = Sampler.reconstruct(model, cache: cache, indices: test)
        let v = try vectors.direction("Wide")
        let means = Sampler.posteriorMeans(model, cache: cache, indices: test)
        for (n, index) in test.enumerated() {
            let row = Array(tiles[(n * 5)..<(n * 5 + 5)])
            #expect(row[0] == cache.image8(index) && row[0] == originals[n] && row[1] == reconstructions[n])
            #expect(row[3] == reconstructions[n], "strength 0 is the reconstruction")
            // Strength −1: the decode of μ − v, computed here.
            let moved = Tensor(shape: [1, 16], values: zip(LatentCodes.row(means, n), v).map { $0 - $1 })
            #expect(row[2] == Sampler.decode(model, latents: moved)[0] && row[2] != row[1])
            let second = Array(tiles[((test.count + n) * 5)..<((test.count + n) * 5 + 5)])
            #expect(second[0] == originals[n] && second[1] == reconstructions[n] && second[2] != second[1])
            #expect(second[3] == Image8(width: 64, height: 64, fill: Grid.background) && second[4] == second[3])
        }
        let skipped = try #require(errorMessage { _ = try vectors.editRows(model, cache: cache, indices: test, edits: [AttributeEdit(attribute: "Rare", strengths: [1])]) })
        #expect(skipped.hasPrefix("attribute 'Rare' has no vector: 5 images with it and 35 without"))
    }

    /// `sample --edit` without --vectors: computed once and cached beside the model, reused
    /// while the model file's bytes are the same (a new modification time alone keeps it), and
    /// recomputed when the model file changes. A foreign file in the cache's place is refused.
    @Test func vectorsAreCachedBesideTheModelUntilTheModelChanges() throws {
        let (root, cache, _) = try makeAttributeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = root + "/models/m.safetensors", cachePath = root + "/models/m.attributes.safetensors"
        try ModelExport.write(warmedModel(cache, latent: 16, decoder: .resizeconv), to: path)
        var notes = [String](), dataAsked = 0
        func vectors(_ data: PreparedCache? = nil) throws -> AttributeVectors {
            try AttributeVectors.forEditing(try ModelFile.load(path: path), vectorsFile: nil,
                                            data: { dataAsked += 1; return data }, note: { notes.append($0) })
        }
        let noData = try #require(errorMessage { _ = try vectors() })
        #expect(noData.contains("give --data DIR") && noData.contains(cachePath) && !noData.contains("\n"), "\(noData)")
        let first = try vectors(cache)
        #expect(FileManager.default.fileExists(atPath: cachePath) && notes.last?.hasPrefix("computing the attribute vectors") == true)
        dataAsked = 0
        #expect(try vectors().attributes == first.attributes && dataAsked == 0)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000)], ofItemAtPath: path)
        #expect(try vectors().attributes == first.attributes && dataAsked == 0)

        let retrained = VAE(configuration: VAEConfiguration(latentDimension: 16, decoder: .resizeconv), seed: 99)
        try ModelExport.write(retrained, to: path)
        let second = try vectors(cache)
        #expect(dataAsked == 1 && notes.contains { $0.contains("is stale") })
        #expect(second.attributes != first.attributes)
        #expect(try AttributeVectors.read(path: cachePath).vectors.attributes == second.attributes)

        // --vectors of another latent size, and a foreign file where the cache goes.
        let small = try AttributeVectors.compute(VAE(configuration: VAEConfiguration(latentDimension: 8, decoder: .resizeconv), seed: 2),
                                                 cache: cache, split: .train)
        try small.write(to: root + "/small.safetensors", model: ModelFileKey(xxh64: 1, bytes: 1))
        let otherSize = try #require(errorMessage {
            _ = try AttributeVectors.forEditing(try ModelFile.load(path: path), vectorsFile: root + "/small.safetensors",
                                                data: { nil }, note: { _ in })
        })
        #expect(otherSize.hasPrefix(root + "/small.safetensors: attribute vectors of latent size 8, but the model has latent size 16"))
        try write(Data("not safetensors".utf8), to: cachePath)
        let foreign = try #require(errorMessage { _ = try vectors(cache) })
        #expect(foreign.hasPrefix(cachePath + ": ") && foreign.contains("it is left alone"), "\(foreign)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: cachePath)) == Data("not safetensors".utf8))
    }

    /// The commands end to end: `attributes --out` writes the vectors; `sample --reconstruct
    /// --edit` draws rows of 2 + strengths tiles from them.
    @Test func attributesAndSampleEditRunFromTheCommandLine() throws {
        let (root, cache, _) = try makeAttributeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let model = root + "/m.safetensors"
        try ModelExport.write(warmedModel(cache, latent: 16, decoder: .resizeconv), to: model)
        try AttributesCommand.parse(["--model", model, "--cache", cache.path, "--out", root + "/v.safetensors", "--json"]).run()
        let (vectors, key) = try AttributeVectors.read(path: root + "/v.safetensors", latentDimension: 16)
        let modelKey = try ModelFileKey(file: model)
        #expect(vectors.attributes.map(\.name) == ["Wide", "Rare"] && key == modelKey)
        try SampleCommand.parse(["--model", model, "--cache", cache.path, "--vectors", root + "/v.safetensors", "--reconstruct",
                                 "--n", "4", "--edit", "Wide=-1:1:3", "--out", root + "/edits.png"]).run()
        let grid = try PNG.readRGB(root + "/edits.png")
        #expect(grid.width == 5 * 66 + 2 && grid.height == 2 * 66 + 2)
        try SampleCommand.parse(["--model", model, "--cache", cache.path, "--n", "3", "--edit", "Wide=1.5", "--out", root + "/random.png"]).run()
        #expect(FileManager.default.fileExists(atPath: root + "/m.attributes.safetensors"))
        let unknown = try #require(errorMessage {
            try SampleCommand.parse(["--model", model, "--n", "3", "--edit", "Smiling=1.5", "--out", root + "/x.png"]).run()
        })
        #expect(unknown == "unknown attribute 'Smiling'; the attributes are: Wide, Rare")
    }
}

@Suite(.enabled(if: TrainingTestData.available, "needs ../shared/data/celeba next to the repository"))
struct AttributeCelebATests {
    /// The 40 real attributes on the test split: counts from the text of list_attr_celeba.txt,
    /// directions from single-image encodings, the attributes under 20 a side skipped.
    @Test func vectorsOnTheTestSplitEqualAnIndependentComputation() throws {
        let cache = try TrainingTestData.cache.get()
        let folder = try #require(TrainingTestData.celebA)
        let model = warmedModel(cache, latent: 16, decoder: .resizeconv)
        let test = cache.indices(in: .test)
        let rows = try annotationRows(folder + "/list_attr_celeba.txt", names: Set(test.map(cache.fileName)))
        let vectors = try AttributeVectors.compute(model, cache: cache, split: .test)
        #expect(vectors.attributes.count == 40 && vectors.images == test.count)
        let expected = independentDirections(model, cache: cache, indices: test, values: { index in
            rows[cache.fileName(index)].map { $0.map { Int8($0)! } }
        }, attributes: 40)
        for (attribute, truth) in zip(vectors.attributes, expected) {
            #expect(attribute.imagesWith == truth.with && attribute.imagesWithout == truth.without, "\(attribute.name)")
            #expect((attribute.direction == nil) == (truth.direction == nil), "\(attribute.name)")
            if let direction = attribute.direction, let truth = truth.direction {
                #expect(close(direction, truth), "\(attribute.name)")
            }
        }
        #expect(!vectors.skipped.isEmpty && vectors.skipped.count < 40)
    }
}
