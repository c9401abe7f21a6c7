import Glibc

/// What Linux's `/proc/PID/stat` tells of a process: its state and the CPU time it has used.
public struct ProcessStat: Sendable, Equatable {
    /// `R` running, `S` sleeping, `Z` ended and not yet reaped, and so on.
    public let state: Character
    /// User and system CPU time used so far, in seconds.
    public let cpuSeconds: Double

    /// Nil when there is no such process.
    public init?(pid: pid_t) {
        // One line of about 300 bytes; the command's name in it is at most 16.
        guard let line = readProcFile("/proc/\(pid)/stat") else { return nil }
        self.init(line: line)
    }

    /// Parses the line. The fields after the command's name, which may hold spaces and
    /// parentheses, start with the state (field 3); utime and stime are fields 14 and 15.
    init?(line: ArraySlice<UInt8>) {
        guard let nameEnd = line.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = line[(nameEnd + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 12, let state = fields[0].first,
              let user = UInt64(String(decoding: fields[11], as: UTF8.self)),
              let system = UInt64(String(decoding: fields[12], as: UTF8.self)) else { return nil }
        self.state = Character(Unicode.Scalar(state))
        cpuSeconds = Double(user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
