"""SQL for the beehive samples table and the workloads the cases replay."""

SAMPLES_COLUMNS = """(
    id bigserial PRIMARY KEY,
    hive_id int NOT NULL,
    device_id int NOT NULL,
    taken_at timestamptz NOT NULL,
    temperature_c double precision,
    humidity_pct real,
    weight_kg numeric(7,3),
    battery_v real,
    sound_db real,
    payload jsonb,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
)"""

ROWS_PER_PGBENCH_TRANSACTION = 100  # the big transactions of cases 4 and 6

INSERT_COLUMNS = "hive_id, device_id, taken_at, temperature_c, humidity_pct, weight_kg, battery_v, sound_db, payload"

# One reading per device per minute: brood temperature near 35 C, a hive weight that drifts over the
# day, a battery that slowly drains, and a small JSON payload as the devices send it.
SAMPLE_VALUES = """1 + g % 400, 1 + g % 1600, timestamptz '2026-04-01 00:00+00' + g * interval '1 minute' / 1600,
    34.8 + 1.5 * sin(g / 5000.0) + random() - 0.5, (52 + 12 * random())::real,
    round((38 + 14 * random() + (g % 1440) / 480.0)::numeric, 3), (4.1 - (g % 100000) / 200000.0)::real,
    (42 + 18 * random())::real,
    jsonb_build_object('fw', '2.3.1', 'rssi', -55 - g % 40, 'frame', g % 65536, 'queen_seen', g % 7 = 0)"""


def create_table(name="samples"):
    """CREATE TABLE for the samples table (source, warehouse reference copy, subscriber)."""
    return f"CREATE TABLE {name} {SAMPLES_COLUMNS};\n"


def insert_rows(first, count):
    """One INSERT of `count` generated samples; `first` varies the generated values."""
    return (f"INSERT INTO samples ({INSERT_COLUMNS})\n"
            f"SELECT {SAMPLE_VALUES}\nFROM generate_series({first}, {first + count - 1}) g;\n")


def insert_wide_row(row_id, mebibytes):
    """One INSERT of a sample whose payload holds `mebibytes` MiB of hex text (not compressible
    to nothing, as a real blob of readings)."""
    values = SAMPLE_VALUES.rsplit(",\n", 1)[0]
    blob = f"(SELECT string_agg(md5(i::text), '') FROM generate_series(1, {mebibytes} * 32768) i)"
    return (f"INSERT INTO samples ({INSERT_COLUMNS})\n"
            f"SELECT {values},\n    jsonb_build_object('blob', {blob})\nFROM generate_series({row_id}, {row_id}) g;\n")


def transactions_script(bodies):
    """Commits each body in its own transaction. Before the last COMMIT it prints the WAL insert
    position (every change of the workload lies before it, its commit record after it), after it the
    WAL position at the end; a replica has replayed everything once it applied a commit past the first."""
    script = [f"BEGIN;\n{body}COMMIT;\n" for body in bodies[:-1]]
    script.append(f"BEGIN;\n{bodies[-1]}SELECT pg_current_wal_insert_lsn();\nCOMMIT;\n"
                  "SELECT pg_current_wal_lsn();\n")
    return "".join(script)


def backlog(transactions, rows_per_transaction):
    """Bodies of `transactions` insert-only transactions."""
    return [insert_rows(1 + i * rows_per_transaction, rows_per_transaction) for i in range(transactions)]


def mixed_prefill(transactions, changes_per_transaction):
    """The rows the mixed workload later updates and deletes: ids 1..N of a fresh table."""
    return insert_rows(10_000_000, transactions * touched_per_transaction(changes_per_transaction))


def touched_per_transaction(changes_per_transaction):
    """Existing rows each mixed transaction updates (30 %) or deletes (10 %)."""
    return changes_per_transaction * 4 // 10


def mixed(transactions, changes_per_transaction):
    """Bodies of transactions of 60 % inserts, 30 % updates and 10 % deletes; transaction i updates
    and deletes its own slice of the prefilled ids, so every change hits a different row."""
    inserts = changes_per_transaction * 6 // 10
    updates = changes_per_transaction * 3 // 10
    touched = touched_per_transaction(changes_per_transaction)
    bodies = []
    for i in range(transactions):
        first = 1 + i * touched
        bodies.append(
            insert_rows(20_000_000 + i * inserts, inserts)
            + "UPDATE samples SET temperature_c = temperature_c + 0.25, battery_v = battery_v - 0.01,\n"
              "    payload = payload || '{\"recalibrated\": true}'\n"
              f"WHERE id BETWEEN {first} AND {first + updates - 1};\n"
            + f"DELETE FROM samples WHERE id BETWEEN {first + updates} AND {first + touched - 1};\n")
    return bodies


def pgbench_insert(rows):
    """A pgbench script: one transaction inserting `rows` samples with a random offset."""
    return (r"\set base random(1, 100000000)" + "\n"
            f"INSERT INTO samples ({INSERT_COLUMNS})\n"
            f"SELECT {SAMPLE_VALUES}\nFROM generate_series(:base, :base + {rows - 1}) g;\n")
