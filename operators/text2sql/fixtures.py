"""Small, seeded Text-to-SQL databases, built identically as SQLite and DuckDB files.

DataFlow's Text-to-SQL examples point at Spider/BIRD databases that are not redistributable here,
so tests, demos and the reference pipeline run on these instead: a few tables each, real foreign
keys, plausible values from a fixed seed (same seed, same rows, on both engines).
"""

import random
import sqlite3
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

FIRST = [
    "Ada",
    "Ben",
    "Chloe",
    "Dmitri",
    "Elena",
    "Farah",
    "Gustav",
    "Hana",
    "Ivan",
    "Julia",
    "Kofi",
    "Lena",
    "Mateo",
    "Nadia",
    "Omar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Victor",
    "Wen",
    "Yusuf",
]
LAST = [
    "Andersen",
    "Baptiste",
    "Chen",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Horvat",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Rossi",
    "Silva",
    "Tanaka",
    "Weber",
]
CITIES = ["Lisbon", "Oslo", "Lyon", "Krakow", "Porto", "Munich", "Turin", "Ghent", "Aarhus", "Bilbao"]

SHOP_DDL = [
    "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL, "
    "signup_date DATE NOT NULL)",
    "CREATE TABLE products (product_id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, "
    "price REAL NOT NULL)",
    "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES "
    "customers(customer_id), order_date DATE NOT NULL, status TEXT NOT NULL)",
    "CREATE TABLE order_items (order_id INTEGER NOT NULL REFERENCES orders(order_id), product_id INTEGER "
    "NOT NULL REFERENCES products(product_id), quantity INTEGER NOT NULL, PRIMARY KEY (order_id, product_id))",
]

SCHOOL_DDL = [
    "CREATE TABLE departments (dept_id INTEGER PRIMARY KEY, name TEXT NOT NULL, building TEXT NOT NULL)",
    "CREATE TABLE teachers (teacher_id INTEGER PRIMARY KEY, name TEXT NOT NULL, dept_id INTEGER NOT NULL "
    "REFERENCES departments(dept_id), salary INTEGER NOT NULL, hired DATE NOT NULL)",
    "CREATE TABLE courses (course_id INTEGER PRIMARY KEY, title TEXT NOT NULL, dept_id INTEGER NOT NULL "
    "REFERENCES departments(dept_id), teacher_id INTEGER NOT NULL REFERENCES teachers(teacher_id), "
    "credits INTEGER NOT NULL)",
    "CREATE TABLE students (student_id INTEGER PRIMARY KEY, name TEXT NOT NULL, year INTEGER NOT NULL, "
    "home_city TEXT NOT NULL)",
    "CREATE TABLE enrollments (student_id INTEGER NOT NULL REFERENCES students(student_id), course_id "
    "INTEGER NOT NULL REFERENCES courses(course_id), grade REAL, PRIMARY KEY (student_id, course_id))",
]

Rows = dict[str, list[tuple[Any, ...]]]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _day(rng: random.Random, start: date, span_days: int) -> str:
    return (start + timedelta(days=rng.randrange(span_days))).isoformat()


def shop_rows(seed: int = 7) -> Rows:
    rng = random.Random(seed)
    catalog = [
        ("Trail Shoes", "footwear", 89.9),
        ("Rain Jacket", "outerwear", 129.0),
        ("Wool Socks", "footwear", 12.5),
        ("Headlamp", "gear", 34.0),
        ("Camp Stove", "gear", 59.95),
        ("Fleece Hoodie", "outerwear", 64.0),
        ("Water Filter", "gear", 42.0),
        ("Sun Hat", "accessories", 19.9),
        ("Trekking Poles", "gear", 74.5),
        ("Dry Bag", "accessories", 17.0),
        ("Down Vest", "outerwear", 99.0),
        ("Gaiters", "footwear", 28.0),
    ]
    customers = [(i, _person(rng), rng.choice(CITIES), _day(rng, date(2021, 1, 1), 900)) for i in range(1, 31)]
    products = [(i, n, c, p) for i, (n, c, p) in enumerate(catalog, 1)]
    orders, items = [], []
    for oid in range(1, 81):
        orders.append(
            (
                oid,
                rng.randrange(1, 31),
                _day(rng, date(2023, 1, 1), 540),
                rng.choices(["delivered", "shipped", "cancelled", "pending"], [6, 2, 1, 1])[0],
            )
        )
        for pid in rng.sample(range(1, len(catalog) + 1), rng.randint(1, 4)):
            items.append((oid, pid, rng.randint(1, 3)))
    return {"customers": customers, "products": products, "orders": orders, "order_items": items}


def school_rows(seed: int = 11) -> Rows:
    rng = random.Random(seed)
    depts = [
        (1, "Mathematics", "North Hall"),
        (2, "Physics", "Science Block"),
        (3, "History", "Old Library"),
        (4, "Computer Science", "Tech Center"),
    ]
    teachers = [
        (i, _person(rng), rng.randint(1, 4), rng.randrange(42000, 91000, 500), _day(rng, date(2005, 1, 1), 6000))
        for i in range(1, 13)
    ]
    titles = {
        1: ["Linear Algebra", "Calculus I", "Probability"],
        2: ["Mechanics", "Optics", "Thermodynamics"],
        3: ["Medieval Europe", "Modern China"],
        4: ["Databases", "Algorithms", "Operating Systems"],
    }
    courses, cid = [], 0
    for dept, names in titles.items():
        staff = [t[0] for t in teachers if t[2] == dept] or [teachers[0][0]]
        for title in names:
            cid += 1
            courses.append((cid, title, dept, rng.choice(staff), rng.choice([3, 4, 5, 6])))
    students = [(i, _person(rng), rng.randint(1, 4), rng.choice(CITIES)) for i in range(1, 41)]
    enrollments = []
    for sid, *_ in students:
        for c in rng.sample(range(1, cid + 1), rng.randint(2, 5)):
            grade = None if rng.random() < 0.1 else round(rng.uniform(1.0, 4.0), 1)
            enrollments.append((sid, c, grade))
    return {
        "departments": depts,
        "teachers": teachers,
        "courses": courses,
        "students": students,
        "enrollments": enrollments,
    }


DATABASES: dict[str, tuple[list[str], Callable[[], Rows]]] = {
    "shop": (SHOP_DDL, shop_rows),
    "school": (SCHOOL_DDL, school_rows),
}


def build_sqlite(path: Path, ddl: list[str], rows: Rows) -> Path:
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA foreign_keys = ON")
        for stmt in ddl:
            con.execute(stmt)
        for table, data in rows.items():
            marks = ", ".join("?" * len(data[0]))
            con.executemany(f"INSERT INTO {table} VALUES ({marks})", data)
        con.commit()
    finally:
        con.close()
    return path


def build_duckdb(path: Path, ddl: list[str], rows: Rows) -> Path:
    path.unlink(missing_ok=True)
    Path(f"{path}.wal").unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        for stmt in ddl:
            con.execute(stmt.replace(" REAL", " DOUBLE"))
        for table, data in rows.items():  # tables are listed parents first, so keys resolve on insert
            marks = ", ".join("?" * len(data[0]))
            con.executemany(f"INSERT INTO {table} VALUES ({marks})", data)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return path


def build_all(out_dir: str | Path, engines: tuple[str, ...] = ("sqlite", "duckdb")) -> list[Path]:
    """Write every fixture database under ``out_dir`` as ``<db_id>.sqlite`` / ``<db_id>.duckdb``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for db_id, (ddl, make_rows) in DATABASES.items():
        rows = make_rows()
        if "sqlite" in engines:
            made.append(build_sqlite(out / f"{db_id}.sqlite", ddl, rows))
        if "duckdb" in engines:
            made.append(build_duckdb(out / f"{db_id}.duckdb", ddl, rows))
    return made
