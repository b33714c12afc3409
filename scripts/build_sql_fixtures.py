"""Build the seeded Text-to-SQL fixture databases (SQLite and DuckDB) into a folder.

    python scripts/build_sql_fixtures.py [OUT_DIR] [--engines sqlite,duckdb]

Default OUT_DIR is assets/data/text2sql_db, where the reference text2sql pipeline looks.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from operators.text2sql.fixtures import build_all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1] / "assets" / "data" / "text2sql_db"
    parser.add_argument("out_dir", nargs="?", default=str(default))
    parser.add_argument("--engines", default="sqlite,duckdb", help="comma-separated: sqlite,duckdb")
    args = parser.parse_args()
    for path in build_all(args.out_dir, tuple(e.strip() for e in args.engines.split(",") if e.strip())):
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
