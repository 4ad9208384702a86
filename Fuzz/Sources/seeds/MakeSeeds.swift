// Writes the seed corpora of Fuzz/Corpus with the tool's own writers: small valid files and a
// few hand-broken ones. Built without sanitizers (libFuzzer brings its own `main`), from the
// repository root: swift run -c release --package-path Fuzz --scratch-path Fuzz/.build/seeds make-seeds Fuzz/Corpus
// JPEG seeds come from make-jpeg-seeds.c (TurboJPEG): the tool decodes JPEG but never writes it.
import Foundation
import TensorIO
import VAEFaces

let corpus = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "Fuzz/Corpus"

func seed(_ target: String, _ name: String, _ data: Data) throws {
    try FileManager.default.createDirectory(atPath: "\(corpus)/\(target)", withIntermediateDirectories: true)
    try data.write(to: URL(fileURLWithPath: "\(corpus)/\(target)/\(name)"))
}

/// `data` with `bytes` written over it at `offset` (a hand-broken copy).
func patched(_ data: Data, at offset: Int, _ bytes: [UInt8]) -> Data {
    var copy = data
    copy.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
    return copy
}

func gradient(width: Int, height: Int) -> Image8 {
    var image = Image8(width: width, height: height)
    for y in 0..<height {
        for x in 0..<width {
            image.pixels[(y * width + x) * 3 + 0] = UInt8(x * 255 / max(1, width - 1))
            image.pixels[(y * width + x) * 3 + 1] = UInt8(y * 255 / max(1, height - 1))
            image.pixels[(y * width + x) * 3 + 2] = UInt8((x ^ y) & 0xFF)
        }
    }
    return image
}

@main
struct MakeSeeds {
    static func main() throws {
        // safetensors: F32 and F16 tensors, a scalar, an empty tensor and metadata; then broken copies.
        var writer = SafeTensorsWriter(metadata: ["format": "pt", "step": "3"])
        writer.add("encoder.weight", shape: [2, 3], values: [1, -2, 3.5, 0, 1e-3, -7])
        writer.add("encoder.bias", shape: [3], values: [0.5, 0.25, -1], storage: .float16)
        writer.add("scale", shape: [], values: [2])
        writer.add("empty", shape: [0, 4], values: [])
        let safetensors = writer.encode()
        try seed("safetensors", "valid.safetensors", safetensors)
        var single = SafeTensorsWriter()
        single.add("w", shape: [1], values: [1])
        try seed("safetensors", "single.safetensors", single.encode())
        try seed("safetensors", "truncated.safetensors", safetensors.prefix(safetensors.count - 5))
        try seed("safetensors", "header-too-long.safetensors", patched(safetensors, at: 0, [0xFF, 0xFF, 0xFF, 0x7F]))

        // NumPy .npy: a matrix, a vector and a scalar (float32, version 1.0); broken copies.
        let npy = NPY.encode(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        try seed("npy", "matrix.npy", npy)
        try seed("npy", "vector.npy", NPY.encode(shape: [4], values: [0.5, -1, 2, 8]))
        try seed("npy", "scalar.npy", NPY.encode(shape: [], values: [3]))
        try seed("npy", "truncated.npy", npy.prefix(npy.count - 3))
        try seed("npy", "version2.npy", patched(npy, at: 6, [2, 0]))

        // CelebA's list files, in CelebA's own layout (CRLF lines).
        let partition = "000001.jpg 0\r\n000002.jpg 1\r\n000003.jpg 2\r\n"
        try seed("partition", "valid.txt", Data(partition.utf8))
        try seed("partition", "bad-code.txt", Data("000001.jpg 0\r\n000002.jpg 7\r\n".utf8))
        let attributes = "3\r\nSmiling Young \r\n000001.jpg -1  1\r\n000002.jpg  1 -1\r\n000003.jpg  1  1\r\n"
        try seed("attributes", "valid.txt", Data(attributes.utf8))
        try seed("attributes", "short-row.txt", Data("3\r\nSmiling Young \r\n000001.jpg -1\r\n".utf8))

        // PNG: small images written by the tool's own encoder; a broken copy.
        let png = try PNG.encode(gradient(width: 8, height: 6))
        try seed("png", "gradient.png", png)
        try seed("png", "pixel.png", try PNG.encode(Image8(width: 1, height: 1, fill: RGB8(200, 10, 30))))
        try seed("png", "truncated.png", png.prefix(png.count - 20))

        // Prepared caches, made by `prepare` from tiny folders: a generic folder of one 64×64 PNG, and
        // a CelebA root of one 178×218 image with both list files (two attributes).
        let work = NSTemporaryDirectory() + "vae-faces-seeds-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: work) }
        let generic = work + "/generic"
        try FileManager.default.createDirectory(atPath: generic, withIntermediateDirectories: true)
        try PNG.write(gradient(width: 64, height: 64), to: generic + "/face.png")
        _ = try DataPreparation.prepare(dataFolder: generic, cachePath: work + "/generic.cache", threads: 1)
        try seed("cache", "generic.cache", try Data(contentsOf: URL(fileURLWithPath: work + "/generic.cache")))
        let celebA = work + "/celeba"
        try FileManager.default.createDirectory(atPath: celebA + "/img_align_celeba", withIntermediateDirectories: true)
        try PNG.write(gradient(width: 178, height: 218), to: celebA + "/img_align_celeba/000001.jpg")
        try Data("000001.jpg 1\r\n".utf8).write(to: URL(fileURLWithPath: celebA + "/list_eval_partition.txt"))
        try Data("1\r\nSmiling Young \r\n000001.jpg -1  1\r\n".utf8).write(to: URL(fileURLWithPath: celebA + "/list_attr_celeba.txt"))
        _ = try DataPreparation.prepare(dataFolder: celebA, cachePath: work + "/celeba.cache", threads: 1)
        let cache = try Data(contentsOf: URL(fileURLWithPath: work + "/celeba.cache"))
        try seed("cache", "celeba.cache", cache)
        try seed("cache", "truncated.cache", cache.prefix(cache.count - 7))
        try seed("cache", "version2.cache", patched(cache, at: 8, [2]))
    }
}
