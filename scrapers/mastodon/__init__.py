"""Mastodon watches: a hashtag timeline or an account's statuses, on any instance, read as posts."""
