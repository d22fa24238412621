"""Bluesky watches: an account's posts (public) or a search (with an account's app password), read as posts."""
