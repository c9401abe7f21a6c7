import Glibc

/// A small file of Linux's `/proc` (one line of numbers or so), read whole in one `read`, as
/// the kernel makes it; nil when it cannot be opened or is empty.
func readProcFile(_ path: String, capacity: Int = 4_096) -> ArraySlice<UInt8>? {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var bytes = [UInt8](repeating: 0, count: capacity)
    let count = read(descriptor, &bytes, bytes.count)
    return count > 0 ? bytes[..<count] : nil
}
