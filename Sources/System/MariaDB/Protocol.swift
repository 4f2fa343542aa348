import CMariaDB

/// How a result column maps onto `MariaDBValue`, decided once per result set from its metadata.
enum ColumnKind {
    case signed, unsigned, double, text, blob, null

    /// Charset 63 is "binary": BLOB/VARBINARY/BINARY columns carry bytes, not text.
    static let binaryCharset: UInt32 = 63

    init(_ field: MYSQL_FIELD) {
        let unsigned = field.flags & UInt32(UNSIGNED_FLAG) != 0
        switch field.type {
        case MYSQL_TYPE_TINY, MYSQL_TYPE_SHORT, MYSQL_TYPE_LONG, MYSQL_TYPE_LONGLONG, MYSQL_TYPE_INT24, MYSQL_TYPE_YEAR:
            self = unsigned ? .unsigned : .signed
        case MYSQL_TYPE_FLOAT, MYSQL_TYPE_DOUBLE:
            self = .double
        case MYSQL_TYPE_NULL:
            self = .null
        case MYSQL_TYPE_BIT, MYSQL_TYPE_GEOMETRY:
            self = .blob
        case MYSQL_TYPE_TINY_BLOB, MYSQL_TYPE_MEDIUM_BLOB, MYSQL_TYPE_LONG_BLOB, MYSQL_TYPE_BLOB,
             MYSQL_TYPE_VAR_STRING, MYSQL_TYPE_STRING, MYSQL_TYPE_VARCHAR:
            self = field.charsetnr == Self.binaryCharset ? .blob : .text
        default:  // DECIMAL, temporal types, JSON, ENUM, SET: canonical text keeps them exact
            self = .text
        }
    }

    /// Decodes one text-protocol cell (never NULL here).
    func decodeText(_ bytes: UnsafeBufferPointer<UInt8>) -> MariaDBValue {
        switch self {
        case .blob: return .blob(Array(bytes))
        case .null: return .null
        default: break
        }
        let s = String(decoding: bytes, as: UTF8.self)
        switch self {
        case .signed: return Int64(s).map(MariaDBValue.int) ?? .text(s)
        case .unsigned: return UInt64(s).map(MariaDBValue.uint) ?? .text(s)
        case .double: return Double(s).map(MariaDBValue.double) ?? .text(s)
        default: return .text(s)
        }
    }
}

private func columnNames(_ fields: UnsafeMutablePointer<MYSQL_FIELD>, _ count: Int) -> [String] {
    (0..<count).map { fields[$0].name.map { String(cString: $0) } ?? "" }
}

/// COM_QUERY: `mysql_real_query` + `mysql_store_result`.
enum TextProtocol {
    static func run(_ h: UnsafeMutablePointer<MYSQL>, _ sql: String, endpoint: String) throws -> MariaDBResult {
        var sql = sql
        let rc = sql.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { mysql_real_query(h, $0.baseAddress, UInt(utf8.count)) }
        }
        try check("mysql_real_query", .connection(h), endpoint: endpoint, rc)
        guard let res = mysql_store_result(h) else {
            if mysql_field_count(h) == 0 {  // not a SELECT-like statement: no result set is expected
                return MariaDBResult(rows: [], affectedRows: mysql_affected_rows(h), lastInsertID: mysql_insert_id(h))
            }
            throw mariaDBError("mysql_store_result", .connection(h), endpoint: endpoint)
        }
        defer { mysql_free_result(res) }
        let count = Int(mysql_num_fields(res))
        guard let fields = mysql_fetch_fields(res) else {
            throw mariaDBError("mysql_fetch_fields", .connection(h), endpoint: endpoint)
        }
        let columns = columnNames(fields, count)
        let kinds = (0..<count).map { ColumnKind(fields[$0]) }
        var rows: [MariaDBRow] = []
        rows.reserveCapacity(Int(mysql_num_rows(res)))
        while let row = mysql_fetch_row(res) {
            guard let lengths = mysql_fetch_lengths(res) else {
                throw mariaDBError("mysql_fetch_lengths", .connection(h), endpoint: endpoint)
            }
            var values: [MariaDBValue] = []
            values.reserveCapacity(count)
            for i in 0..<count {
                if let cell = row[i] {  // nil element = SQL NULL; lengths make it binary-safe
                    let buffer = UnsafeRawPointer(cell).bindMemory(to: UInt8.self, capacity: Int(lengths[i]))
                    values.append(kinds[i].decodeText(UnsafeBufferPointer(start: buffer, count: Int(lengths[i]))))
                } else {
                    values.append(.null)
                }
            }
            rows.append(MariaDBRow(columns: columns, values: values))
        }
        // With a buffered result, fetch_row only returns nil at the end; an errno here is real.
        if mysql_errno(h) != 0 { throw mariaDBError("mysql_fetch_row", .connection(h), endpoint: endpoint) }
        return MariaDBResult(rows: rows, affectedRows: mysql_affected_rows(h), lastInsertID: mysql_insert_id(h))
    }
}

/// COM_STMT_PREPARE/EXECUTE: prepare (or reuse), bind, execute, buffer all rows.
enum PreparedStatement {
    /// Initial buffer for a string/blob cell; longer cells are fetched again with
    /// `mysql_stmt_fetch_column` into a buffer of the exact length.
    static let initialCellCapacity = 256

    static func run(
        _ h: UnsafeMutablePointer<MYSQL>, _ cache: StatementCache, _ sql: String, _ binds: [MariaDBValue],
        endpoint: String
    ) throws -> MariaDBResult {
        if let cached = cache.take(sql) {
            do {
                return try runAndCache(cached, cache, sql, binds, endpoint: endpoint)
            } catch let error as MariaDBError where error.errno == newStatementMetadata {
                // The table changed under the cached statement (ALTER TABLE): the result has other
                // columns now. Only result-set statements report this, so preparing again and
                // re-running is safe.
            }
        }
        return try runAndCache(prepare(h, sql, endpoint: endpoint), cache, sql, binds, endpoint: endpoint)
    }

    /// CR_NEW_STMT_METADATA: "The number of parameters in bound buffers differs from number of
    /// columns in resultset" — a cached statement's result shape changed.
    static let newStatementMetadata: Int32 = 2057

    private static func runAndCache(
        _ stmt: UnsafeMutablePointer<MYSQL_STMT>, _ cache: StatementCache, _ sql: String, _ binds: [MariaDBValue],
        endpoint: String
    ) throws -> MariaDBResult {
        do {
            let result = try run(stmt, sql, binds, endpoint: endpoint)
            // Rows are all copied out; free the client-side buffer and keep the statement.
            mysql_stmt_free_result(stmt)
            cache.put(sql, stmt)
            return result
        } catch {
            // After any failure the statement's state is unknown: drop it, re-prepare next time.
            mysql_stmt_close(stmt)
            throw error
        }
    }

    private static func prepare(_ h: UnsafeMutablePointer<MYSQL>, _ sql: String, endpoint: String) throws -> UnsafeMutablePointer<MYSQL_STMT> {
        guard let stmt = mysql_stmt_init(h) else {
            throw mariaDBError("mysql_stmt_init", .connection(h), endpoint: endpoint)
        }
        var sql = sql
        let prc = sql.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { mysql_stmt_prepare(stmt, $0.baseAddress, UInt(utf8.count)) }
        }
        if prc != 0 {
            let error = mariaDBError("mysql_stmt_prepare", .statement(stmt), endpoint: endpoint)
            mysql_stmt_close(stmt)
            throw error
        }
        return stmt
    }

    private static func run(_ stmt: UnsafeMutablePointer<MYSQL_STMT>, _ sql: String, _ binds: [MariaDBValue], endpoint: String) throws -> MariaDBResult {
        let paramCount = Int(mysql_stmt_param_count(stmt))
        guard paramCount == binds.count else {
            throw MariaDBError(
                operation: "mysql_stmt_bind_param", errno: MariaDBError.invalidParameterNumber, sqlState: "HY000",
                message: "statement has \(paramCount) placeholders but \(binds.count) values were bound", endpoint: endpoint)
        }
        let params = BindArray(count: paramCount)
        defer { params.deallocate() }
        for (i, value) in binds.enumerated() { params.setParameter(i, value) }
        if paramCount > 0 {
            try check("mysql_stmt_bind_param", .statement(stmt), endpoint: endpoint, mysql_stmt_bind_param(stmt, params.binds))
        }
        try check("mysql_stmt_execute", .statement(stmt), endpoint: endpoint, mysql_stmt_execute(stmt))

        guard let meta = mysql_stmt_result_metadata(stmt) else {
            if mysql_stmt_errno(stmt) != 0 {
                throw mariaDBError("mysql_stmt_result_metadata", .statement(stmt), endpoint: endpoint)
            }
            return MariaDBResult(rows: [], affectedRows: mysql_stmt_affected_rows(stmt), lastInsertID: mysql_stmt_insert_id(stmt))
        }
        defer { mysql_free_result(meta) }
        let count = Int(mysql_num_fields(meta))
        guard let fields = mysql_fetch_fields(meta) else {
            throw mariaDBError("mysql_fetch_fields", .statement(stmt), endpoint: endpoint)
        }
        let columns = columnNames(fields, count)
        let kinds = (0..<count).map { ColumnKind(fields[$0]) }
        let results = BindArray(count: count)
        defer { results.deallocate() }
        for i in 0..<count { results.prepareResult(i, kinds[i]) }
        try check("mysql_stmt_bind_result", .statement(stmt), endpoint: endpoint, mysql_stmt_bind_result(stmt, results.binds))
        // Buffer the whole result client-side so the session is free again when we return.
        try check("mysql_stmt_store_result", .statement(stmt), endpoint: endpoint, mysql_stmt_store_result(stmt))

        var rows: [MariaDBRow] = []
        rows.reserveCapacity(Int(mysql_stmt_num_rows(stmt)))
        while true {
            let rc = mysql_stmt_fetch(stmt)
            if rc == MYSQL_NO_DATA { break }
            if rc != 0 && rc != MYSQL_DATA_TRUNCATED {
                throw mariaDBError("mysql_stmt_fetch", .statement(stmt), endpoint: endpoint)
            }
            var values: [MariaDBValue] = []
            values.reserveCapacity(count)
            for i in 0..<count {
                values.append(try results.value(i, kinds[i], stmt: stmt, endpoint: endpoint))
            }
            rows.append(MariaDBRow(columns: columns, values: values))
        }
        return MariaDBResult(rows: rows, affectedRows: mysql_stmt_affected_rows(stmt), lastInsertID: mysql_stmt_insert_id(stmt))
    }
}

/// MYSQL_BIND structs plus the memory they point at, manually allocated so the addresses stay
/// valid for the whole execute/fetch (Swift arrays give no such guarantee across calls).
final class BindArray {
    let count: Int
    let binds: UnsafeMutablePointer<MYSQL_BIND>
    let isNull: UnsafeMutablePointer<my_bool>
    let lengths: UnsafeMutablePointer<UInt>
    let errors: UnsafeMutablePointer<my_bool>
    private var buffers: [UnsafeMutableRawPointer] = []

    init(count: Int) {
        self.count = count
        let n = max(count, 1)
        binds = .allocate(capacity: n)
        binds.initialize(repeating: MYSQL_BIND(), count: n)
        isNull = .allocate(capacity: n)
        isNull.initialize(repeating: 0, count: n)
        lengths = .allocate(capacity: n)
        lengths.initialize(repeating: 0, count: n)
        errors = .allocate(capacity: n)
        errors.initialize(repeating: 0, count: n)
    }

    func deallocate() {
        for b in buffers { b.deallocate() }
        buffers.removeAll()
        binds.deallocate()
        isNull.deallocate()
        lengths.deallocate()
        errors.deallocate()
    }

    private func buffer(_ size: Int) -> UnsafeMutableRawPointer {
        let b = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 8)
        buffers.append(b)
        return b
    }

    func setParameter(_ i: Int, _ value: MariaDBValue) {
        switch value {
        case .null:
            binds[i].buffer_type = MYSQL_TYPE_NULL
        case .int(let v):
            let b = buffer(8); b.storeBytes(of: v, as: Int64.self)
            binds[i].buffer_type = MYSQL_TYPE_LONGLONG; binds[i].buffer = b; binds[i].is_unsigned = 0
        case .uint(let v):
            let b = buffer(8); b.storeBytes(of: v, as: UInt64.self)
            binds[i].buffer_type = MYSQL_TYPE_LONGLONG; binds[i].buffer = b; binds[i].is_unsigned = 1
        case .double(let v):
            let b = buffer(8); b.storeBytes(of: v, as: Double.self)
            binds[i].buffer_type = MYSQL_TYPE_DOUBLE; binds[i].buffer = b
        case .text(let s):
            setBytes(i, Array(s.utf8), MYSQL_TYPE_STRING)
        case .blob(let bytes):
            setBytes(i, bytes, MYSQL_TYPE_BLOB)
        }
    }

    private func setBytes(_ i: Int, _ bytes: [UInt8], _ type: enum_field_types) {
        let b = buffer(bytes.count)
        bytes.withUnsafeBytes { b.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(b), byteCount: bytes.count) }
        binds[i].buffer_type = type
        binds[i].buffer = b
        binds[i].buffer_length = UInt(bytes.count)
        lengths[i] = UInt(bytes.count)
        binds[i].length = lengths + i
    }

    func prepareResult(_ i: Int, _ kind: ColumnKind) {
        binds[i].is_null = isNull + i
        binds[i].length = lengths + i
        binds[i].error = errors + i
        switch kind {
        case .signed, .unsigned:
            binds[i].buffer_type = MYSQL_TYPE_LONGLONG
            binds[i].is_unsigned = kind == .unsigned ? 1 : 0
            binds[i].buffer = buffer(8); binds[i].buffer_length = 8
        case .double:
            binds[i].buffer_type = MYSQL_TYPE_DOUBLE
            binds[i].buffer = buffer(8); binds[i].buffer_length = 8
        case .text, .null:
            binds[i].buffer_type = MYSQL_TYPE_STRING
            binds[i].buffer = buffer(PreparedStatement.initialCellCapacity)
            binds[i].buffer_length = UInt(PreparedStatement.initialCellCapacity)
        case .blob:
            binds[i].buffer_type = MYSQL_TYPE_BLOB
            binds[i].buffer = buffer(PreparedStatement.initialCellCapacity)
            binds[i].buffer_length = UInt(PreparedStatement.initialCellCapacity)
        }
    }

    func value(_ i: Int, _ kind: ColumnKind, stmt: UnsafeMutablePointer<MYSQL_STMT>, endpoint: String) throws -> MariaDBValue {
        if isNull[i] != 0 { return .null }
        guard let b = binds[i].buffer else { return .null }
        switch kind {
        case .signed: return .int(b.load(as: Int64.self))
        case .unsigned: return .uint(b.load(as: UInt64.self))
        case .double: return .double(b.load(as: Double.self))
        case .text, .null, .blob:
            let length = Int(lengths[i])
            let bytes: [UInt8]
            if length <= Int(binds[i].buffer_length) {
                bytes = Array(UnsafeRawBufferPointer(start: b, count: length))
            } else {
                bytes = try refetch(i, length: length, stmt: stmt, endpoint: endpoint)
            }
            return kind == .blob ? .blob(bytes) : .text(String(decoding: bytes, as: UTF8.self))
        }
    }

    /// The cell did not fit the initial buffer: fetch it again into one of the exact size.
    private func refetch(_ i: Int, length: Int, stmt: UnsafeMutablePointer<MYSQL_STMT>, endpoint: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: length)
        var len: UInt = 0
        var null: my_bool = 0
        var err: my_bool = 0
        try bytes.withUnsafeMutableBytes { raw in
            var bind = MYSQL_BIND()
            bind.buffer_type = binds[i].buffer_type
            bind.buffer = raw.baseAddress
            bind.buffer_length = UInt(length)
            try withUnsafeMutablePointer(to: &len) { lenPtr in
                try withUnsafeMutablePointer(to: &null) { nullPtr in
                    try withUnsafeMutablePointer(to: &err) { errPtr in
                        bind.length = lenPtr
                        bind.is_null = nullPtr
                        bind.error = errPtr
                        try check("mysql_stmt_fetch_column", .statement(stmt), endpoint: endpoint,
                                  mysql_stmt_fetch_column(stmt, &bind, UInt32(i), 0))
                    }
                }
            }
        }
        return bytes
    }
}

/// Prepared statements of one connection, keyed by SQL text, oldest evicted first.
/// Not thread-safe on purpose: only used under the owning connection's lock.
final class StatementCache {
    /// Statements handed between threads for closing. Safe: they were removed from the cache
    /// (so nothing else can reach them) before being wrapped.
    struct Handles: @unchecked Sendable {
        let statements: [UnsafeMutablePointer<MYSQL_STMT>]
        init(_ statements: [UnsafeMutablePointer<MYSQL_STMT>]) { self.statements = statements }
        func closeAll() { for s in statements { mysql_stmt_close(s) } }
    }

    let capacity: Int
    private var statements: [String: UnsafeMutablePointer<MYSQL_STMT>] = [:]
    private var order: [String] = []

    init(capacity: Int) { self.capacity = capacity }

    /// Removes and returns the statement for `sql`, if cached (the caller owns it until `put`).
    func take(_ sql: String) -> UnsafeMutablePointer<MYSQL_STMT>? {
        guard let stmt = statements.removeValue(forKey: sql) else { return nil }
        order.removeAll { $0 == sql }
        return stmt
    }

    /// Caches `stmt` for `sql`, closing the oldest statement when full.
    func put(_ sql: String, _ stmt: UnsafeMutablePointer<MYSQL_STMT>) {
        if let old = statements.updateValue(stmt, forKey: sql), old != stmt { mysql_stmt_close(old) }
        order.removeAll { $0 == sql }
        order.append(sql)
        while order.count > capacity {
            let evicted = order.removeFirst()
            if let s = statements.removeValue(forKey: evicted) { mysql_stmt_close(s) }
        }
    }

    /// Empties the cache and returns the statements for the caller to close.
    func removeAll() -> [UnsafeMutablePointer<MYSQL_STMT>] {
        let all = Array(statements.values)
        statements.removeAll()
        order.removeAll()
        return all
    }
}
