import Foundation
import NeuralCore

/// Turning latent codes and images into pictures with a trained model; BatchNorm always in
/// inference mode (running averages), so an image does not depend on its batch-mates.
public enum Sampler {
    /// The images σ(decoder(z)) for the codes z [N, latent], decoded `batchSize` at a time.
    public static func decode(_ model: VAE, latents: Tensor, batchSize: Int = 64) -> [Image8] {
        let (n, d) = (latents.shape[0], latents.shape[1])
        precondition(d == model.configuration.latentDimension,
                     "Sampler.decode: codes of \(d) values for a model with latent size \(model.configuration.latentDimension)")
        let chunk = Tensor(shape: [min(batchSize, n), d])
        var images = [Image8]()
        images.reserveCapacity(n)
        for start in stride(from: 0, to: n, by: chunk.capacity / d) {
            let count = min(n - start, chunk.capacity / d)
            chunk.reshape([count, d])
            chunk.pointer.update(from: latents.pointer + start * d, count: count * d)
            images += Image8.images(fromNCHW: model.decode(chunk))
        }
        return images
    }

    /// The posterior means μ(x) of the cache images `indices`, [N, latent] (row n for
    /// `indices[n]`), encoded `batchSize` at a time with the encoder in inference mode.
    public static func posteriorMeans(_ model: VAE, cache: PreparedCache, indices: [Int], batchSize: Int = 64) -> Tensor {
        precondition(!indices.isEmpty, "Sampler.posteriorMeans: no images")
        let d = model.configuration.latentDimension
        let means = Tensor(shape: [indices.count, d])
        let loader = BatchLoader(cache: cache, indices: indices, batchSize: batchSize, mode: .evaluation)
        var row = 0
        while let batch = loader.next() {
            let mu = model.encoder.forward(batch.tensor, mode: .inference).mu
            (means.pointer + row * d).update(from: mu.pointer, count: batch.count * d)
            row += batch.count
        }
        return means
    }

    /// Cache images `indices` and their reconstructions σ(decoder(μ(x))): the decoder applied to
    /// the mean of q(z|x) (no noise, so a reconstruction grid is deterministic).
    public static func reconstruct(_ model: VAE, cache: PreparedCache, indices: [Int],
                                   batchSize: Int = 64) -> (originals: [Image8], reconstructions: [Image8]) {
        let means = posteriorMeans(model, cache: cache, indices: indices, batchSize: batchSize)
        return (indices.map(cache.image8), decode(model, latents: means, batchSize: batchSize))
    }

    /// Tiles for a grid of `columns` columns where each row of originals is followed by the row of
    /// their reconstructions: rows 1, 3, 5, … originals, rows 2, 4, 6, … reconstructions.
    public static func pairedRows(originals: [Image8], reconstructions: [Image8], columns: Int) -> [Image8] {
        precondition(originals.count == reconstructions.count && columns > 0, "Sampler.pairedRows: mismatched lists")
        var tiles = [Image8]()
        for start in stride(from: 0, to: originals.count, by: columns) {
            let end = min(originals.count, start + columns)
            tiles += originals[start..<end]
            // Pad a short last row so its reconstructions sit below their originals.
            if end - start < columns, let blank = originals.first.map({ Image8(width: $0.width, height: $0.height, fill: Grid.background) }) {
                tiles += Array(repeating: blank, count: columns - (end - start))
            }
            tiles += reconstructions[start..<end]
        }
        return tiles
    }

    /// The tiles of a reconstruction grid of `count` tiles: the first ⌊count/2⌋ images of
    /// `indices` (at least one), originals above reconstructions, `columns` per row; and the
    /// reconstructions alone.
    public static func reconstructionTiles(_ model: VAE, cache: PreparedCache, indices: [Int], count: Int,
                                           columns: Int) -> (tiles: [Image8], reconstructions: [Image8]) {
        let chosen = Array(indices.prefix(max(1, count / 2)))
        let (originals, reconstructions) = reconstruct(model, cache: cache, indices: chosen)
        return (pairedRows(originals: originals, reconstructions: reconstructions, columns: columns), reconstructions)
    }

    /// The reconstruction grid of `reconstructionTiles`.
    public static func reconstructionGrid(_ model: VAE, cache: PreparedCache, indices: [Int], count: Int,
                                          columns: Int) -> Image8 {
        Grid.make(tiles: reconstructionTiles(model, cache: cache, indices: indices, count: count, columns: columns).tiles,
                  columns: columns)
    }

    /// Writes each image as its own PNG, `folder/000000.png`, `folder/000001.png`, … (six digits,
    /// more when needed), creating the folder.
    public static func writeEach(_ images: [Image8], to folder: String) throws {
        let digits = max(6, String(max(0, images.count - 1)).count)
        for (i, image) in images.enumerated() {
            let s = String(i)
            try PNG.write(image, to: folder + "/" + String(repeating: "0", count: digits - s.count) + s + ".png")
        }
    }
}
