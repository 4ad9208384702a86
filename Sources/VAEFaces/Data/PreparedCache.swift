import Foundation
import TensorIO

/// The prepared data set: every image of a data folder decoded, cropped and area-resized once,
/// in one file that training reads into memory.
///
/// File layout (version 1, little-endian):
///
///     offset  size  field
///          0     8  magic  89 'V' 'F' 'C' 0D 0A 1A 0A
///          8     4  version (1)
///         12     4  header size (64) = offset of the first image
///         16     4  count N
///         20     2  image side (64)            22  2  channels (3)
///         24     1  folder kind (1 CelebA root, 2 generic folder)
///         25     1  attributes per image A (40 with list_attr_celeba.txt, else 0)
///         26     2  CelebA source width (178)   28  2  source height (218)
///         30     2  crop x (19)   32  2  crop y (39)   34  2  crop side (140)
///         36     4  reserved (0)
///         40     8  metadata offset = 64 + N·12288
///         48     8  signature of the data folder listing (names, sizes, mtimes; `DataFolder`)
///         56     8  checksum: XXH64 (seed 0) of every byte from offset 64 to the end
///         64        N images, 64·64·3 bytes each, HWC RGB, in file-name order
///     metadata      data folder path (u32 length + UTF-8)
///                   A attribute names (u16 length + UTF-8 each)
///                   N file names relative to the image folder (u16 length + UTF-8 each)
///                   N split codes (u8: 0 train, 1 val, 2 test)
///                   N·A attribute values (i8: −1, 1; 0 when the image has no row)
///                   end of file
///
/// Images come first so that preparation streams them to disk as they are decoded; the header
/// is written last. Opening validates magic, version, sizes and the checksum, so a truncated,
/// corrupt or foreign file is refused with a message, never read as faces.
///
/// `open` copies the file into memory of its own (the checksum reads every byte anyway) instead
/// of mapping it: a mapped file that another program truncates or rewrites in place while a
/// run reads it (`cp`, `truncate`, a tool opening it with O_TRUNC) kills the reader with SIGBUS
/// at the first page past the new end, and no check before touching a page can close that race.
/// The copy is immune: a run goes on with the data it validated. (`prepare` itself never
/// rewrites a cache in place: it writes a new file and renames it over the old one.)
public final class PreparedCache: @unchecked Sendable {
    // Immutable after `open`: the copy is read-only and every property is a `let`, so one
    // cache can be shared by any number of threads.

    public static let magic: [UInt8] = [0x89, 0x56, 0x46, 0x43, 0x0D, 0x0A, 0x1A, 0x0A]
    public static let version: UInt32 = 1
    public static let headerSize = 64
    /// Bytes per image: 64·64·3.
    public static let imageBytes = VAEConfiguration.imageSize * VAEConfiguration.imageSize * VAEConfiguration.imageChannels

    public let path: String
    public let count: Int
    public let kind: DataFolder.Kind
    /// The data folder it was prepared from (absolute path).
    public let dataFolder: String
    /// `DataFolder.signature` of the folder when it was prepared.
    public let signature: UInt64
    public let attributeNames: [String]
    private let names: [String]
    private let splitCodes: [Split]
    private let splitIndices: [Split: [Int]]
    private let base: UnsafeRawPointer
    private let mappedSize: Int

    private init(path: String, tables: Tables, base: UnsafeRawPointer, mappedSize: Int) {
        self.path = path
        self.count = tables.count
        self.kind = tables.kind
        self.dataFolder = tables.dataFolder
        self.signature = tables.signature
        self.attributeNames = tables.attributeNames
        self.names = tables.names
        self.splitCodes = tables.splits
        var indices = [Split: [Int]]()
        for s in Split.allCases { indices[s] = [] }
        for (i, s) in tables.splits.enumerated() { indices[s]!.append(i) }
        self.splitIndices = indices
        self.base = base
        self.mappedSize = mappedSize
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), mappedSize) }

    /// File name of image i, relative to the image folder (e.g. "000001.jpg").
    public func fileName(_ i: Int) -> String { names[i] }

    public func split(_ i: Int) -> Split { splitCodes[i] }

    /// The images of a split, in file-name order.
    public func indices(in split: Split) -> [Int] { splitIndices[split]! }

    /// Image i: 64·64·3 bytes, HWC RGB, valid while the cache is alive.
    public func image(_ i: Int) -> UnsafeBufferPointer<UInt8> {
        precondition(i >= 0 && i < count, "PreparedCache.image: index \(i) out of 0..<\(count)")
        return UnsafeBufferPointer(start: (base + PreparedCache.headerSize + i * PreparedCache.imageBytes)
            .assumingMemoryBound(to: UInt8.self), count: PreparedCache.imageBytes)
    }

    /// Image i as an `Image8` (a copy).
    public func image8(_ i: Int) -> Image8 {
        Image8(width: VAEConfiguration.imageSize, height: VAEConfiguration.imageSize, pixels: Array(image(i)))
    }

    /// Image i's attribute values, in the order of `attributeNames` (−1 or 1, 0 when the
    /// attribute file has no row for it); empty when the data folder had no attribute file.
    public func attributes(_ i: Int) -> UnsafeBufferPointer<Int8> {
        precondition(i >= 0 && i < count, "PreparedCache.attributes: index \(i) out of 0..<\(count)")
        let a = attributeNames.count
        return UnsafeBufferPointer(start: (base + mappedSize - count * a + i * a).assumingMemoryBound(to: Int8.self), count: a)
    }

    /// Whether the file at `path` starts with the cache magic (a vae-faces cache of any version,
    /// possibly damaged), as opposed to a foreign file that must not be overwritten.
    public static func hasMagic(path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: magic.count)) ?? Data()
        return head.elementsEqual(magic)
    }

    /// Reads a cache file into memory and validates it. Errors name the file and the problem
    /// (missing, foreign, other version, truncated, corrupt).
    public static func open(path: String) throws -> PreparedCache {
        let fd = Foundation.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw FileError(file: path, errno == ENOENT ? "no such cache file" : "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileError(file: path, "cannot stat: \(String(cString: strerror(errno)))") }
        let size = Int(st.st_size)
        guard size >= headerSize else {
            throw FileError(file: path, size >= magic.count && hasMagic(path: path)
                ? "truncated vae-faces cache (\(size) bytes)" : "not a vae-faces prepared cache (\(size) bytes)")
        }
        guard let mapping = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapping != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw FileError(file: path, "cannot allocate \(size) bytes for the cache: \(String(cString: strerror(errno)))")
        }
        do {
            try readAll(fd, into: mapping, size: size, path: path)
            mprotect(mapping, size, PROT_READ)
            let tables = try validate(UnsafeRawBufferPointer(start: mapping, count: size), source: path)
            return PreparedCache(path: path, tables: tables, base: UnsafeRawPointer(mapping), mappedSize: size)
        } catch {
            munmap(mapping, size)
            throw error
        }
    }

    /// Reads the `size` bytes of the file `fd` into `buffer`; a file that turns out shorter (cut
    /// since `fstat`) is reported as truncated.
    private static func readAll(_ fd: Int32, into buffer: UnsafeMutableRawPointer, size: Int, path: String) throws {
        var done = 0
        while done < size {
            let n = pread(fd, buffer + done, min(size - done, 1 << 30), off_t(done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw FileError(file: path, n == 0 ? "truncated vae-faces cache: it ended after \(done) of \(size) bytes while being read"
                                                    : "cannot read: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    /// What a cache file's header and tables say, once validated: everything but the images.
    public struct Tables: Sendable {
        public let count: Int
        public let kind: DataFolder.Kind
        public let dataFolder: String
        public let signature: UInt64
        public let attributeNames: [String]
        public let names: [String]
        public let splits: [Split]
    }

    /// Validates the bytes of a whole cache file (magic, version, sizes, checksum, tables) and
    /// returns its tables; `source` names the file in errors. `open` calls it on its copy.
    public static func validate(_ bytes: UnsafeRawBufferPointer, source path: String) throws -> Tables {
        guard let base = bytes.baseAddress, bytes.count >= headerSize else {
            throw FileError(file: path, "not a vae-faces prepared cache (\(bytes.count) bytes)")
        }
        let size = bytes.count
        var reader = ByteReader(path: path, base: base, size: size)
        func corrupt(_ what: String) -> FileError { FileError(file: path, "corrupt vae-faces cache: \(what)") }
        guard (0..<magic.count).allSatisfy({ base.load(fromByteOffset: $0, as: UInt8.self) == magic[$0] }) else {
            throw FileError(file: path, "not a vae-faces prepared cache (unknown file header)")
        }
        reader.offset = magic.count
        let version = try reader.u32()
        guard version == PreparedCache.version else {
            throw FileError(file: path, "cache format version \(version), this build reads version \(PreparedCache.version)")
        }
        let header = Int(try reader.u32())
        let count = Int(try reader.u32())
        let side = Int(try reader.u16()), channels = Int(try reader.u16())
        let kindCode = try reader.u8()
        let attributeCount = Int(try reader.u8())
        let crop = (try reader.u16(), try reader.u16(), try reader.u16(), try reader.u16(), try reader.u16())
        _ = try reader.u32()
        let metadataOffset = try reader.u64()
        let signature = try reader.u64()
        let checksum = try reader.u64()
        guard header == headerSize, side == VAEConfiguration.imageSize, channels == VAEConfiguration.imageChannels,
              crop == (UInt16(FaceCrop.celebAWidth), UInt16(FaceCrop.celebAHeight), UInt16(FaceCrop.celebA.x),
                       UInt16(FaceCrop.celebA.y), UInt16(FaceCrop.celebA.size)),
              let kind = DataFolder.Kind(rawValue: kindCode) else {
            throw corrupt("unexpected header fields (header \(header), image \(side)×\(side)×\(channels), kind \(kindCode))")
        }
        guard metadataOffset == UInt64(headerSize + count * imageBytes), metadataOffset <= UInt64(size) else {
            throw FileError(file: path, "truncated or corrupt vae-faces cache: \(size) bytes, but its header lists \(count) images")
        }
        let actual = XXH64.hash(UnsafeRawBufferPointer(start: base + headerSize, count: size - headerSize))
        guard actual == checksum else {
            throw corrupt("checksum mismatch (stored \(hex(checksum)), computed \(hex(actual))): the file is damaged or truncated")
        }
        reader.offset = Int(metadataOffset)
        let folder = try reader.string(lengthBytes: 4)
        var attributeNames = [String]()
        for _ in 0..<attributeCount { attributeNames.append(try reader.string(lengthBytes: 2)) }
        var names = [String]()
        names.reserveCapacity(count)
        for _ in 0..<count { names.append(try reader.string(lengthBytes: 2)) }
        var splits = [Split]()
        splits.reserveCapacity(count)
        for i in 0..<count {
            guard let s = Split(code: try reader.u8()) else { throw corrupt("bad split code for image \(i)") }
            splits.append(s)
        }
        guard size - reader.offset == count * attributeCount else {
            throw corrupt("\(size - reader.offset) bytes of attributes for \(count) images × \(attributeCount)")
        }
        return Tables(count: count, kind: kind, dataFolder: folder, signature: signature,
                      attributeNames: attributeNames, names: names, splits: splits)
    }

    // MARK: Writing (used by DataPreparation)

    /// The fixed 64-byte header.
    static func header(count: Int, kind: DataFolder.Kind, attributeCount: Int, signature: UInt64, checksum: UInt64) -> [UInt8] {
        var w = ByteWriter()
        w.bytes(magic)
        w.u32(version)
        w.u32(UInt32(headerSize))
        w.u32(UInt32(count))
        w.u16(UInt16(VAEConfiguration.imageSize)); w.u16(UInt16(VAEConfiguration.imageChannels))
        w.u8(kind.rawValue); w.u8(UInt8(attributeCount))
        w.u16(UInt16(FaceCrop.celebAWidth)); w.u16(UInt16(FaceCrop.celebAHeight))
        w.u16(UInt16(FaceCrop.celebA.x)); w.u16(UInt16(FaceCrop.celebA.y)); w.u16(UInt16(FaceCrop.celebA.size))
        w.u32(0)
        w.u64(UInt64(headerSize + count * imageBytes))
        w.u64(signature)
        w.u64(checksum)
        precondition(w.data.count == headerSize)
        return w.data
    }

    /// The metadata block that follows the images.
    static func metadata(dataFolder: String, attributeNames: [String], names: [String], splits: [Split], attributes: [Int8]) -> [UInt8] {
        var w = ByteWriter()
        w.string(dataFolder, lengthBytes: 4)
        for n in attributeNames { w.string(n, lengthBytes: 2) }
        for n in names { w.string(n, lengthBytes: 2) }
        w.bytes(splits.map(\.code))
        w.bytes(attributes.map { UInt8(bitPattern: $0) })
        return w.data
    }
}

func hex(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}

/// Little-endian reads with bounds checks (a damaged file throws, never reads out of bounds).
struct ByteReader {
    /// The file the bytes come from, named in errors.
    let path: String
    let base: UnsafeRawPointer
    let size: Int
    var offset = 0

    mutating func take(_ n: Int) throws -> UnsafeRawPointer {
        guard n >= 0, offset + n <= size else { throw FileError(file: path, "corrupt vae-faces cache: metadata runs past the end of the file") }
        defer { offset += n }
        return base + offset
    }
    mutating func u8() throws -> UInt8 { try take(1).load(as: UInt8.self) }
    mutating func u16() throws -> UInt16 { UInt16(littleEndian: try take(2).loadUnaligned(as: UInt16.self)) }
    mutating func u32() throws -> UInt32 { UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self)) }
    mutating func u64() throws -> UInt64 { UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self)) }
    mutating func string(lengthBytes: Int) throws -> String {
        let n = lengthBytes == 2 ? Int(try u16()) : Int(try u32())
        let p = try take(n)
        return String(decoding: UnsafeRawBufferPointer(start: p, count: n), as: UTF8.self)
    }
}

struct ByteWriter {
    var data = [UInt8]()
    mutating func bytes(_ b: [UInt8]) { data += b }
    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { data += $0 } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data += $0 } }
    mutating func string(_ s: String, lengthBytes: Int) {
        let utf8 = Array(s.utf8)
        if lengthBytes == 2 { u16(UInt16(utf8.count)) } else { u32(UInt32(utf8.count)) }
        data += utf8
    }
}
