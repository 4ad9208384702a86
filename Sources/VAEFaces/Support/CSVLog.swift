import Foundation
import TensorIO

/// A CSV file of training metrics, one row per logged step, with a fixed header:
///
///     step,epoch,loss,rec,kl,images_per_s
///     100,0,312.5,290.25,22.25,512.3
///
/// Each row is written to the file as soon as it is appended (one `write`, no user-space
/// buffer), so a crash loses at most the row being written. A resumed run reopens the log with
/// `resumingAfter: step`: rows past that step (logged after the checkpoint the run resumes from)
/// and a half-written last line are dropped, so the log never holds a step twice. A log written
/// before columns were added at the end of the header (a run started by an older version) is
/// widened on resume: its rows get `nan` in the added columns.
public final class CSVLog {
    public let path: String
    public let columns: [String]
    private let handle: FileHandle

    /// Opens the log at `path`.
    /// - Parameters:
    ///   - columns: the header; it must contain `stepColumn` when resuming.
    ///   - resumingAfter: nil starts a new log (replacing any file at `path`); a step keeps an
    ///     existing log's rows up to and including that step (the file's header must be `columns`,
    ///     or its leading part: then the rows are widened with `nan`) and appends after them. A
    ///     missing file is started afresh.
    ///   - stepColumn: the column holding the step number.
    public init(path: String, columns: [String], resumingAfter step: Int? = nil, stepColumn: String = "step") throws {
        precondition(!columns.isEmpty, "CSVLog: no columns")
        self.path = path
        self.columns = columns
        let header = columns.map(Self.escape).joined(separator: ",")
        if let step, FileManager.default.fileExists(atPath: path) {
            guard let stepIndex = columns.firstIndex(of: stepColumn) else {
                preconditionFailure("CSVLog: the columns \(columns) have no '\(stepColumn)' column")
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw FileError(file: path, "cannot read the log to resume it")
            }
            var lines = String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
            // The text after the last "\n": empty, or a row cut short by a crash.
            lines.removeLast()
            let old = lines.first.map(Self.cells) ?? []
            guard old.count > stepIndex, old == Array(columns.prefix(old.count)) else {
                throw FileError(file: path, "the log's header is '\(lines.first ?? "")', expected '\(header)' (a log from another kind of run?)")
            }
            let widening = String(repeating: ",nan", count: columns.count - old.count)
            var kept = [header]
            for (number, line) in lines.enumerated().dropFirst() {
                let cells = Self.cells(of: line)
                guard cells.count > stepIndex, let rowStep = Double(cells[stepIndex]) else {
                    throw FileError(file: path, "line \(number + 1) has no number in the '\(stepColumn)' column: '\(line)'")
                }
                if rowStep <= Double(step) { kept.append(line + widening) }
            }
            let text = kept.joined(separator: "\n") + "\n"
            if text.utf8.count != data.count { try AtomicWrite.write(Data(text.utf8), to: path) }
        } else {
            try AtomicWrite.write(Data((header + "\n").utf8), to: path)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw FileError(file: path, "cannot open the log for writing")
        }
        self.handle = handle
        do {
            try handle.seekToEnd()
        } catch {
            throw FileError(file: path, "cannot append to the log: \(error.localizedDescription)")
        }
    }

    deinit { try? handle.close() }

    /// Appends a row of numbers, one per column. Integral values print without a fraction
    /// ("100"), others in their shortest exact form ("0.1", "1e-05"); NaN as "nan".
    public func append(_ values: [Double]) throws {
        try append(cells: values.map(Self.format))
    }

    /// Appends a row of text cells, one per column (quoted when they contain `,` or `"`; no newlines).
    public func append(cells: [String]) throws {
        precondition(cells.count == columns.count, "CSVLog: \(cells.count) cells for \(columns.count) columns")
        precondition(!cells.contains { $0.contains(where: \.isNewline) }, "CSVLog: a cell contains a newline")
        let line = cells.map(Self.escape).joined(separator: ",") + "\n"
        do {
            try handle.write(contentsOf: Data(line.utf8))
        } catch {
            throw FileError(file: path, "cannot append to the log: \(error.localizedDescription)")
        }
    }

    /// How `append` writes a number.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// Reads a log (or any CSV file with a header line and no line breaks inside cells) as
    /// columns of numbers by header name; cells that are not numbers read as NaN, a half-written
    /// last line is ignored. For plotting a run's whole history, resumed runs included.
    public static func read(path: String) throws -> [String: [Double]] {
        let data = try FileRead.contents(of: path)
        var lines = String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
        lines.removeLast()
        guard let header = lines.first else { throw FileError(file: path, "empty, expected a CSV header line") }
        let names = cells(of: header)
        var columns = [[Double]](repeating: [], count: names.count)
        for (number, line) in lines.enumerated().dropFirst() {
            let row = cells(of: line)
            guard row.count == names.count else {
                throw FileError(file: path, "line \(number + 1) has \(row.count) cells, the header has \(names.count)")
            }
            for (i, cell) in row.enumerated() { columns[i].append(Double(cell) ?? .nan) }
        }
        return Dictionary(zip(names, columns), uniquingKeysWith: { first, _ in first })
    }

    /// Splits one line into cells, undoing `escape` (quoted cells, doubled quotes).
    public static func cells(of line: String) -> [String] {
        var cells: [String] = []
        var cell = ""
        var inQuotes = false
        var justClosed = false  // the previous character closed a quoted part
        for c in line {
            if inQuotes {
                if c == "\"" { inQuotes = false; justClosed = true; continue }
                cell.append(c)
            } else if c == "\"" {
                if justClosed { cell.append(c) }  // "" inside quotes is one quote
                inQuotes = true
            } else if c == "," {
                cells.append(cell)
                cell = ""
            } else {
                cell.append(c)
            }
            justClosed = false
        }
        return cells + [cell]
    }

    private static func escape(_ cell: String) -> String {
        guard cell.contains(where: { $0 == "," || $0 == "\"" }) else { return cell }
        return "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
