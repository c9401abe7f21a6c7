import Cluster

/// What every replica keeps of one entry: each field is a last-writer-wins register with the
/// stamp of its last write, and a delete leaves a tombstone (the stamp of the delete) instead
/// of removing the entry. Two records of one entry merge field by field, so an edit of the
/// title on one side of a split and of the date on the other both survive, and a delete on
/// either side wins over edits (an entry never comes back).
///
/// A tombstone keeps only the id and the delete's stamp: the title and date a user deleted
/// are not kept on any replica (a deleted record's fields never show and never win a merge
/// again). Every way a record is made goes through `init`, which forgets them, so a
/// tombstone from the wire, the disk or a merge is one value whatever its fields were.
///
/// `merged(with:)` is commutative, associative and idempotent (each field is a join of its
/// stamp, then of its value when stamps are equal; a tombstone is determined by its delete
/// stamp alone), so replicas that have seen the same writes hold the same record, whatever
/// the order they saw them in.
public struct EntryRecord: Hashable, Sendable, Codable {
    public let id: EntryID
    public private(set) var date: TodoDate
    public private(set) var dateStamp: Stamp
    public private(set) var title: String
    public private(set) var titleStamp: Stamp
    /// The stamp of the delete; nil while the entry lives.
    public private(set) var deleted: Stamp?

    public init(id: EntryID, date: TodoDate, dateStamp: Stamp, title: String, titleStamp: Stamp, deleted: Stamp? = nil) {
        self.id = id
        self.deleted = deleted
        if deleted == nil {
            (self.date, self.dateStamp, self.title, self.titleStamp) = (date, dateStamp, title, titleStamp)
        } else {
            (self.date, self.dateStamp, self.title, self.titleStamp) = (.first, .zero, "", .zero)
        }
    }

    /// A record decoded by `Codable` goes through `init` too, so it cannot keep a deleted
    /// entry's fields either.
    public init(from decoder: any Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        self.init(id: try values.decode(EntryID.self, forKey: .id),
                  date: try values.decode(TodoDate.self, forKey: .date), dateStamp: try values.decode(Stamp.self, forKey: .dateStamp),
                  title: try values.decode(String.self, forKey: .title), titleStamp: try values.decode(Stamp.self, forKey: .titleStamp),
                  deleted: try values.decodeIfPresent(Stamp.self, forKey: .deleted))
    }

    /// A new entry, both fields written at `stamp`.
    public init(id: EntryID, date: TodoDate, title: String, stamp: Stamp) {
        self.init(id: id, date: date, dateStamp: stamp, title: title, titleStamp: stamp)
    }

    /// The entry as users see it; nil once deleted.
    public var entry: TodoEntry? { deleted == nil ? TodoEntry(id: id, date: date, title: title) : nil }

    /// The newest stamp's clock in this record.
    public var newestClock: Int64 { max(dateStamp.clock, titleStamp.clock, deleted?.clock ?? 0) }

    /// Writes the given fields of a live entry; a tombstone takes no write.
    mutating func write(date: TodoDate?, title: String?, at stamp: Stamp) {
        guard deleted == nil else { return }
        if let date { (self.date, dateStamp) = (date, stamp) }
        if let title { (self.title, titleStamp) = (title, stamp) }
    }

    /// Makes this record a tombstone (or a later one), forgetting its date and title.
    mutating func delete(at stamp: Stamp) {
        self = EntryRecord(id: id, date: date, dateStamp: dateStamp, title: title, titleStamp: titleStamp,
                           deleted: max(deleted ?? stamp, stamp))
    }

    /// Both records' writes: per field the later one (by stamp, then by value).
    public func merged(with other: EntryRecord) -> EntryRecord {
        let (date, dateStamp) = Self.later((self.date, self.dateStamp), (other.date, other.dateStamp))
        let (title, titleStamp) = Self.later((self.title, self.titleStamp), (other.title, other.titleStamp))
        let deleted: Stamp? = switch (self.deleted, other.deleted) {
        case let (a?, b?): max(a, b)
        case let (a, b): a ?? b
        }
        return EntryRecord(id: id, date: date, dateStamp: dateStamp, title: title, titleStamp: titleStamp, deleted: deleted)
    }

    private static func later<Value: Comparable>(_ a: (Value, Stamp), _ b: (Value, Stamp)) -> (Value, Stamp) {
        if a.1 != b.1 { return a.1 > b.1 ? a : b }
        return a.0 >= b.0 ? a : b
    }

    /// A hash of the whole record that is the same in every process (FNV-1a 64): the sum of
    /// a list's record digests is the list's digest, which catch-up compares.
    public var digest: UInt64 {
        var hash = FNV1a()
        hash.add(id.counter)
        hash.add(id.origin)
        hash.add(date.description)
        hash.add(dateStamp)
        hash.add(title)
        hash.add(titleStamp)
        if let deleted { hash.add(deleted) } else { hash.add(-1) }
        return hash.value
    }
}
