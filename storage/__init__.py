"""trialwatch's state: one SQLite file (db.py), the only door to it (repo.py and its stores), the pure diff."""
