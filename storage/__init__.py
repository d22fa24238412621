"""trialwatch's state: one SQLite file (db.py), typed reads and writes (repo.py), the diff engine.

sqlite-utils is imported here first, without numpy and pandas, which it would load only to map
their types (trialwatch never stores them): a fifth of a quiet check's start-up (scrapers/lean_import.py).
"""

from scrapers.lean_import import import_lean

import_lean("sqlite_utils", skip=("numpy", "pandas"))
