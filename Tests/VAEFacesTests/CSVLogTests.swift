import Foundation
import TensorIO
import Testing
import VAEFaces

/// A fresh temporary folder for one test.
func makeTemporaryFolder() throws -> String {
    let path = NSTemporaryDirectory() + "vaefaces-tests-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite struct CSVLogTests {
    let columns = ["step", "epoch", "loss", "kl"]

    private func text(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    @Test func writesTheHeaderAndFlushesEachRow() throws {
        let path = try makeTemporaryFolder() + "/run/train.csv"  // the folder is created
        let log = try CSVLog(path: path, columns: columns)
        #expect(try text(path) == "step,epoch,loss,kl\n")
        try log.append([1, 0, 312.5, 0.1])
        // Visible to another reader at once, before the log is closed.
        #expect(try text(path) == "step,epoch,loss,kl\n1,0,312.5,0.1\n")
        try log.append([2, 0, .nan, 1e-5])
        try log.append(cells: ["3", "0", "a,b", "say \"hi\""])
        #expect(try text(path) == "step,epoch,loss,kl\n1,0,312.5,0.1\n2,0,nan,1e-05\n3,0,\"a,b\",\"say \"\"hi\"\"\"\n")
        #expect(CSVLog.cells(of: "3,0,\"a,b\",\"say \"\"hi\"\"\"") == ["3", "0", "a,b", "say \"hi\""])
        let read = try CSVLog.read(path: path)
        #expect(read["step"] == [1, 2, 3])
        #expect(read["kl"]?[0] == 0.1 && read["kl"]?[1] == 1e-5 && read["kl"]?[2].isNaN == true)
    }

    @Test func aNewLogReplacesAnOldOne() throws {
        let path = try makeTemporaryFolder() + "/train.csv"
        try CSVLog(path: path, columns: columns).append([1, 0, 5, 6])
        _ = try CSVLog(path: path, columns: columns)
        #expect(try text(path) == "step,epoch,loss,kl\n")
    }

    @Test func resumingDropsRowsPastTheCheckpointAndAHalfWrittenLine() throws {
        let path = try makeTemporaryFolder() + "/train.csv"
        do {
            let log = try CSVLog(path: path, columns: columns)
            for step in 1...5 { try log.append([Double(step * 10), 0, 100 - Double(step), 1]) }
        }
        // A crash in the middle of writing the next row.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("60,0,9".utf8))
        try handle.close()
        // The checkpoint was taken at step 30: rows 40 and 50 are redone by the resumed run.
        let log = try CSVLog(path: path, columns: columns, resumingAfter: 30)
        #expect(try text(path) == "step,epoch,loss,kl\n10,0,99,1\n20,0,98,1\n30,0,97,1\n")
        try log.append([40, 0, 96.5, 1])
        #expect(try CSVLog.read(path: path)["step"] == [10, 20, 30, 40])
        // Resuming at the end keeps everything, byte for byte.
        _ = try CSVLog(path: path, columns: columns, resumingAfter: 40)
        #expect(try text(path) == "step,epoch,loss,kl\n10,0,99,1\n20,0,98,1\n30,0,97,1\n40,0,96.5,1\n")
    }

    /// A log written before columns were added at the end (a run of an older version) is widened
    /// with `nan` in them when the run resumes; rows past the step are still dropped.
    @Test func resumingWidensALogWithFewerColumns() throws {
        let path = try makeTemporaryFolder() + "/train.csv"
        try Data("step,epoch\n1,0\n2,0\n3,0\n".utf8).write(to: URL(fileURLWithPath: path))
        let log = try CSVLog(path: path, columns: columns, resumingAfter: 2)
        try log.append([3, 1, 5, 0.5])
        #expect(try text(path) == "step,epoch,loss,kl\n1,0,nan,nan\n2,0,nan,nan\n3,1,5,0.5\n")
        let read = try CSVLog.read(path: path)
        #expect(read["step"] == [1, 2, 3] && read["loss"]!.prefix(2).allSatisfy { $0.isNaN } && read["kl"]![2] == 0.5)
    }

    @Test func resumingWithoutALogStartsOne() throws {
        let path = try makeTemporaryFolder() + "/train.csv"
        try CSVLog(path: path, columns: columns, resumingAfter: 100).append([101, 1, 2, 3])
        #expect(try text(path) == "step,epoch,loss,kl\n101,1,2,3\n")
    }

    @Test func resumingRejectsAnotherHeaderOrABadRow() throws {
        let folder = try makeTemporaryFolder()
        try Data("step,loss\n1,2\n".utf8).write(to: URL(fileURLWithPath: folder + "/a.csv"))
        #expect(throws: FileError(file: folder + "/a.csv", "the log's header is 'step,loss', expected 'step,epoch,loss,kl' (a log from another kind of run?)")) {
            _ = try CSVLog(path: folder + "/a.csv", columns: columns, resumingAfter: 1)
        }
        try Data("step,epoch,loss,kl\n1,0,2,3\nx,0,2,3\n".utf8).write(to: URL(fileURLWithPath: folder + "/b.csv"))
        #expect(throws: FileError(file: folder + "/b.csv", "line 3 has no number in the 'step' column: 'x,0,2,3'")) {
            _ = try CSVLog(path: folder + "/b.csv", columns: columns, resumingAfter: 1)
        }
        #expect(try text(folder + "/b.csv") == "step,epoch,loss,kl\n1,0,2,3\nx,0,2,3\n")  // untouched
    }

    @Test func numbersAreWrittenShortAndExact() {
        #expect(CSVLog.format(100) == "100")
        #expect(CSVLog.format(-3) == "-3")
        #expect(CSVLog.format(0.1) == "0.1")
        #expect(CSVLog.format(Double(Float(0.1))) == "0.10000000149011612")
        #expect(CSVLog.format(1e20) == "1e+20")
        #expect(CSVLog.format(-.infinity) == "-inf")
    }
}
