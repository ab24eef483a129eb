/// What the tests of a column made nullable on the source run, on either warehouse.
enum ColumnMadeNullable {
    /// `hives (id, label, frames)`, both columns NOT NULL, with five rows.
    static let sourceSQL =
        "CREATE TABLE hives (id int PRIMARY KEY, label text NOT NULL, frames int NOT NULL); INSERT INTO hives SELECT g, 'h' || g, g FROM generate_series(1, 5) g;"
    /// Made nullable while Forager streams: `label`, then row 6 with a NULL there.
    static let whileStreaming = ["ALTER TABLE hives ALTER COLUMN label DROP NOT NULL", "INSERT INTO hives VALUES (6, NULL, 6)"]
    /// Made nullable while Forager is stopped: `frames`, then row 7 with a NULL there.
    static let whileStopped = ["ALTER TABLE hives ALTER COLUMN frames DROP NOT NULL", "INSERT INTO hives VALUES (7, 'seven', NULL)"]
}
