"""Configuration: TOML in, typed objects out, and errors that name the bad key.

Secrets are written as ``${NAME}`` and read from the environment at load time, so the file can be
shared and committed. Unknown keys are errors (a typo such as ``[htpp]`` silently ignored is how a
monitor ends up watching nothing). Without a config file the built-in defaults apply and the watches
come from ``seeds/watchlist.toml``.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from scrapers.kinds import kind_names
from scrapers.records import WatchSpec
from scrapers.trial_ids import scheme_of
from scrapers.http.settings import HttpSettings
from storage.reported import DeclaredTrial

DEFAULT_CONFIG_NAME = "trialwatch.toml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_WATCH_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}



class ConfigError(ValueError):
    """A configuration problem; the message names the file and the key (exit code 2)."""


@dataclass
class CheckSettings:
    first_run: str = "silent"  # silent | announce
    failure_alert_after: int = 3
    max_backoff_s: int = 24 * 3600  # a failing watch is retried ever later, up to this far apart
    concurrency: int = 8  # watches checked at once
    #: a flood (a feed that grew by 20,000 entries) is announced as this many events, the rest summarised in one
    max_events_per_watch: int = 50
    #: a watch's whole check (every request, retry and wait) ends after this many seconds with an
    #: error for that watch only (0 = no deadline); the fetcher enforces it (HttpSettings.watch_deadline_s)
    watch_deadline_s: float = 120.0


@dataclass
class DiscordSettings:
    api_base: str = "https://discord.com/api/v10"
    webhook_url: str | None = None
    token: str | None = None
    channel_id: str | None = None
    guild_id: str | None = None
    role_pings: dict[str, list[str]] = field(default_factory=dict)  # label -> role ids
    charts: bool = True  # attach the enrollment chart to enrollment events and /trial


@dataclass
class NotifySettings:
    console: bool = True
    discord: bool = True  # used only when a webhook URL or bot token + channel is configured


@dataclass
class SecuritySettings:
    allow_private_urls: bool = False


@dataclass
class SiteSettings:
    """``[site]``: the static tracker website (bot/site/)."""

    out_dir: str | None = None  # ``run`` rewrites the website here after each check with events
    base_url: str | None = None  # where it is served (ends with "/"); /trial in Discord links there


@dataclass
class Config:
    db_path: str = "trialwatch.db"
    check: CheckSettings = field(default_factory=CheckSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    #: ``[sources.KIND] base_url`` overrides; a kind not named here uses its source's declared default
    base_urls: dict[str, str] = field(default_factory=dict)
    #: ``[sources.KIND]`` keys other than ``base_url`` that the kind's source declares (``Source.settings_keys``)
    source_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    site: SiteSettings = field(default_factory=SiteSettings)
    watches: list[WatchSpec] = field(default_factory=list)
    trials: list[DeclaredTrial] = field(default_factory=list)  # [[trial]]: trials named by a label, with starting figures
    source: str = "<defaults>"  # where this config came from, for messages

    def destinations(self) -> list[str]:
        """The outbox destinations events are queued for, in delivery order."""
        out = []
        if self.notify.console:
            out.append("console")
        if self.notify.discord and self.discord.webhook_url:
            out.append("discord_webhook")
        if self.notify.discord and self.discord.token and self.discord.channel_id:
            out.append("discord_bot")
        return out


#: the longest interval a watch may have (a year): beyond it a typo, and beyond SQLite's integers a crash
MAX_INTERVAL_S = 366 * 86400


def parse_interval(value: Any, where: str) -> int:
    """``"6h"`` → 21600; a bare number is refused (seconds or hours? the config must say)."""
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ConfigError(f"{where}: write the interval with its unit, like \"{value}m\" or \"{value}h\" "
                          f"(a bare number is ambiguous), got {value!r}")
    if isinstance(value, str):
        m = _INTERVAL.match(value)
        if m:
            seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds is None:
        raise ConfigError(f"{where}: interval must be a number with s, m, h or d (like \"6h\"), got {value!r}")
    if not seconds > 0:
        raise ConfigError(f"{where}: interval must be longer than zero, got {value!r}")
    if seconds > MAX_INTERVAL_S:
        raise ConfigError(f"{where}: interval must be at most a year (366d), got {value!r}")
    return max(1, int(seconds))


#: what the command line says on stderr after reading a config: ``${NAME}`` references left unset (an unset
#: secret quietly turns a destination off) and intervals shorter than a source asks for
CONFIG_NOTES: list[str] = []


def expand_env(value: Any, where: str, env: dict[str, str] | None = None, _path: tuple[str, ...] = ()) -> Any:
    """Replace ``${NAME}`` in strings (recursively). A missing variable becomes None for a whole-value
    reference (an optional secret left unset) and an error inside a longer string. Messages name the key as
    the file writes it: ``trialwatch.toml [sources.reddit] client_secret``."""
    env = os.environ if env is None else env
    if isinstance(value, str):
        if "${" not in value:  # nearly every value: skip the regexes (a config may hold thousands)
            return value
        whole = _ENV_REF.fullmatch(value)
        if whole:
            if not env.get(whole.group(1)):
                CONFIG_NOTES.append(f"{_key_path(where, _path)} = ${{{whole.group(1)}}} is not set in the "
                                    "environment, so it is left out")
            return env.get(whole.group(1)) or None
        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in env:
                raise ConfigError(f"{_key_path(where, _path)}: environment variable {m.group(1)} is not set")
            return env[m.group(1)]
        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: expand_env(v, where, env, (*_path, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, where, env, (*_path[:-1], f"{_path[-1] if _path else ''}#{i + 1}"))
                for i, v in enumerate(value)]
    return value


def _key_path(where: str, path: tuple[str, ...]) -> str:
    """``where`` and a key path as a TOML file shows it: ``f.toml [sources.reddit] client_secret``,
    ``f.toml [[watch]] #2 url`` (an array of tables is numbered from 1)."""
    if not path:
        return where
    *tables, key = path
    if not tables:
        return f"{where} {key}"
    if len(tables) == 1 and "#" in tables[0]:
        name, _, number = tables[0].partition("#")
        return f"{where} [[{name}]] #{number} {key}"
    return f"{where} [{'.'.join(tables)}] {key}"


def _take(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any) -> Any:
    if key not in table:
        return default
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}.{key}: expected {names}, got {value!r}")
    return value


def _no_unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


WATCH_COMMON_KEYS = {"id", "kind", "interval", "labels", "enabled"}


def watch_from_table(table: dict[str, Any], where: str, default_interval: int = 6 * 3600) -> WatchSpec:
    """One ``[[watch]]`` table → :class:`WatchSpec`; kind-specific keys are checked by the source."""
    from scrapers.kinds import kind_names, source_class, validate_keys
    from scrapers.records import UnsupportedWatch

    wid = table.get("id")
    if not isinstance(wid, str) or not _WATCH_ID.match(wid):
        raise ConfigError(f"{where}.id: a watch needs an id: a lowercase slug like \"resetme-pilot\", got {wid!r}")
    where = f"{where} (id {wid!r})"
    kind = table.get("kind")
    if not isinstance(kind, str):
        raise ConfigError(f"{where}.kind: missing; one of {', '.join(kind_names())}")
    if kind not in kind_names():
        raise ConfigError(f"{where}.kind: unknown watch kind {kind!r}; one of {', '.join(kind_names())}")
    labels = _take(table, "labels", list, where, [])
    if not all(isinstance(x, str) for x in labels):
        raise ConfigError(f"{where}.labels: must be a list of strings")
    keys = {k: v for k, v in table.items() if k not in WATCH_COMMON_KEYS}
    spec = WatchSpec(
        id=wid,
        kind=kind,
        keys=keys,
        interval_s=parse_interval(table["interval"], f"{where}.interval") if "interval" in table else default_interval,
        labels=list(labels),
        enabled=_take(table, "enabled", bool, where, True),
    )
    try:
        validate_keys(kind, keys)
    except UnsupportedWatch as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except (ValueError, TypeError) as exc:  # a value no rule of the source foresaw (an unbalanced IPv6 bracket)
        raise ConfigError(f"{where}: the {kind} watch's keys cannot be read ({type(exc).__name__}: {exc})") from None
    floor = source_class(kind).min_interval_s
    if spec.interval_s < floor:
        CONFIG_NOTES.append(f"{where}: interval {spec.interval_s} s is shorter than the {floor // 60} minutes a "
                            f"{kind} watch should wait between checks (the site asks for politeness); kept as set")
    return spec


def load_config(path: str | Path | None = None, *, db_override: str | None = None,
                env: dict[str, str] | None = None) -> Config:
    """Load ``path``, or ``./trialwatch.toml`` when present, or the built-in defaults with the seed watchlist."""
    if path is None and Path(DEFAULT_CONFIG_NAME).is_file():
        path = DEFAULT_CONFIG_NAME
    if path is None:
        raw: dict[str, Any] = {}
        source = "<defaults>"
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8").removeprefix("\ufeff")  # a BOM from an editor is fine
            raw = tomllib.loads(text)
        except FileNotFoundError:
            raise ConfigError(f"{source}: config file not found") from None
        except IsADirectoryError:
            raise ConfigError(f"{source} is a directory; give the config file itself (e.g. {source}/trialwatch.toml)") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source} is not UTF-8 text (byte {exc.start}): is it the config file?") from None
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read the config file: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    cfg = config_from_dict(raw, source=source, env=env)
    if path is None:
        cfg.watches = load_seed_watches()
        cfg.trials = load_seed_trials()
    if db_override:
        cfg.db_path = db_override
    return cfg


def load_seed_watches() -> list[WatchSpec]:
    """The default watchlist shipped in ``seeds/watchlist.toml`` (the ResetME family)."""
    text = resources.files("seeds").joinpath("watchlist.toml").read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    return [watch_from_table(t, f"seeds/watchlist.toml [[watch]] #{i + 1}") for i, t in enumerate(raw.get("watch", []))]


def config_from_dict(raw: dict[str, Any], *, source: str = "<dict>", env: dict[str, str] | None = None) -> Config:
    """Build a :class:`Config` from parsed TOML. Every error names ``source`` and the key."""
    CONFIG_NOTES.clear()
    raw = expand_env(raw, source, env)
    _no_unknown(raw, {"database", "check", "http", "sources", "discord", "notify", "security", "watch", "trial",
                      "site"}, source)
    cfg = Config(source=source)

    database = _take(raw, "database", dict, source, {})
    _no_unknown(database, {"path"}, f"{source} [database]")
    cfg.db_path = _take(database, "path", str, f"{source} [database]", cfg.db_path)

    check = _take(raw, "check", dict, source, {})
    w = f"{source} [check]"
    _no_unknown(check, {"first_run", "failure_alert_after", "concurrency", "max_backoff", "max_events_per_watch",
                        "watch_deadline_s"}, w)
    if "max_backoff" in check:
        cfg.check.max_backoff_s = parse_interval(check["max_backoff"], f"{w}.max_backoff")
    cfg.check.first_run = _take(check, "first_run", str, w, cfg.check.first_run)
    if cfg.check.first_run not in ("silent", "announce"):
        raise ConfigError(f"{w}.first_run: must be \"silent\" or \"announce\", got {cfg.check.first_run!r}")
    cfg.check.failure_alert_after = _take(check, "failure_alert_after", int, w, cfg.check.failure_alert_after)
    cfg.check.concurrency = _take(check, "concurrency", int, w, cfg.check.concurrency)
    cfg.check.max_events_per_watch = _take(check, "max_events_per_watch", int, w, cfg.check.max_events_per_watch)
    if cfg.check.max_events_per_watch < 2:
        raise ConfigError(f"{w}.max_events_per_watch: at least 2 (one event and the summary of the rest), "
                          f"got {cfg.check.max_events_per_watch}")
    if cfg.check.failure_alert_after < 1 or cfg.check.concurrency < 1:
        raise ConfigError(f"{w}: failure_alert_after and concurrency must be at least 1")
    cfg.check.watch_deadline_s = _take(check, "watch_deadline_s", float, w, cfg.check.watch_deadline_s)
    if cfg.check.watch_deadline_s < 0:
        raise ConfigError(f"{w}.watch_deadline_s: must be 0 (no deadline) or a positive number of seconds")

    http = _take(raw, "http", dict, source, {})
    w = f"{source} [http]"
    floats = {"timeout_s", "per_host_rps", "backoff_s", "max_retry_after_s"}
    ints = {"max_bytes", "max_concurrency", "max_retries", "per_host_concurrency"}
    _no_unknown(http, floats | ints | {"user_agent"}, w)
    hs = cfg.http
    hs.user_agent = _take(http, "user_agent", str, w, hs.user_agent)
    for k in floats:
        setattr(hs, k, _take(http, k, float, w, getattr(hs, k)))
    for k in ints:
        setattr(hs, k, _take(http, k, int, w, getattr(hs, k)))
    if hs.timeout_s <= 0 or hs.max_bytes <= 0 or hs.per_host_rps < 0:
        raise ConfigError(f"{w}: timeout_s and max_bytes must be positive and per_host_rps not negative")
    if hs.per_host_concurrency < 0:
        raise ConfigError(f"{w}.per_host_concurrency: must be 0 (no per-host cap) or at least 1")
    # the fetcher enforces the check deadline, and is built from [http] alone
    hs.watch_deadline_s = cfg.check.watch_deadline_s

    sources = _take(raw, "sources", dict, source, {})
    for name, table in sources.items():
        w = f"{source} [sources.{name}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{w}: must be a table")
        if name not in kind_names():
            raise ConfigError(f"{w}: unknown watch kind {name!r}; one of {', '.join(kind_names())}")
        from scrapers.kinds import source_class
        extra = set(source_class(name).settings_keys)
        _no_unknown(table, {"base_url", *extra}, w)
        if "base_url" in table:
            cfg.base_urls[name] = _take(table, "base_url", str, w, "")
        settings = {k: v for k, v in table.items() if k in extra}
        for key, value in settings.items():  # hosts, names and secrets: text (None is an unset ${SECRET})
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{w}.{key}: expected a string (in quotes), got {value!r}")
        if settings:
            cfg.source_settings[name] = settings

    discord = _take(raw, "discord", dict, source, {})
    w = f"{source} [discord]"
    _no_unknown(discord, {"api_base", "webhook_url", "token", "channel_id", "guild_id", "role_pings", "charts"}, w)
    d_charts = _take(discord, "charts", bool, w, True)
    d = cfg.discord
    d.api_base = _take(discord, "api_base", str, w, d.api_base).rstrip("/")
    for key in ("webhook_url", "token", "channel_id", "guild_id"):
        value = discord.get(key)
        if value is not None and not isinstance(value, (str, int)):
            raise ConfigError(f"{w}.{key}: expected a string, got {value!r}")
        setattr(d, key, str(value) if value not in (None, "") else None)
    d.charts = d_charts
    pings = _take(discord, "role_pings", dict, w, {})
    for label, roles in pings.items():
        if not isinstance(roles, list) or not all(str(r).isdigit() for r in roles):
            raise ConfigError(f"{w}.role_pings.{label}: must be a list of role ids (digits)")
        d.role_pings[label] = [str(r) for r in roles]

    notify = _take(raw, "notify", dict, source, {})
    w = f"{source} [notify]"
    _no_unknown(notify, {"console", "discord"}, w)
    cfg.notify.console = _take(notify, "console", bool, w, cfg.notify.console)
    cfg.notify.discord = _take(notify, "discord", bool, w, cfg.notify.discord)

    security = _take(raw, "security", dict, source, {})
    _no_unknown(security, {"allow_private_urls"}, f"{source} [security]")
    cfg.security.allow_private_urls = _take(security, "allow_private_urls", bool, f"{source} [security]", False)

    cfg.site = site_from_table(_take(raw, "site", dict, source, {}), f"{source} [site]")

    tables = _take(raw, "watch", list, source, [])
    seen: set[str] = set()
    for i, table in enumerate(tables):
        where = f"{source} [[watch]] #{i + 1}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table")
        spec = watch_from_table(table, where)
        _check_source_settings(spec, cfg, where)
        if spec.id in seen:
            raise ConfigError(f"{where}.id: duplicate watch id {spec.id!r}")
        seen.add(spec.id)
        cfg.watches.append(spec)
    cfg.trials = trials_from_tables(_take(raw, "trial", list, source, []), source)
    return cfg


def _check_source_settings(spec: WatchSpec, cfg: Config, where: str) -> None:
    """An enabled watch whose kind needs ``[sources.KIND]`` settings (credentials) that are not there: said
    at once, as a note (like an unset webhook), not an error that would stop every other command and watch;
    the watch itself fails its checks with the same words until the settings are there."""
    note = missing_settings_note(spec, cfg.source_settings.get(spec.kind, {}))
    if note:
        CONFIG_NOTES.append(f"{where} (id {spec.id!r}): {note}")


def missing_settings_note(spec: WatchSpec, settings: dict[str, Any]) -> str | None:
    """What an enabled watch lacks in ``[sources.KIND]`` (its source's ``check_settings``), or None."""
    from scrapers.kinds import source_class
    from scrapers.records import UnsupportedWatch

    if not spec.enabled:
        return None
    try:
        source_class(spec.kind).check_settings(spec.keys, settings)
    except UnsupportedWatch as exc:
        return f"{exc}; this watch fails its checks until they are set"
    return None


def site_from_table(table: dict[str, Any], where: str) -> SiteSettings:
    """``[site]``: ``out_dir`` (a folder, written whole and swapped in) and ``base_url`` (an http(s) address)."""
    from urllib.parse import urlsplit

    _no_unknown(table, {"out_dir", "base_url"}, where)
    out_dir = _take(table, "out_dir", str, where, None)
    if out_dir is not None and not out_dir.strip():
        raise ConfigError(f"{where}.out_dir: give a folder for the website, like \"site\", or leave the key out")
    base_url = _take(table, "base_url", str, where, None)
    if base_url is not None:
        try:
            parts = urlsplit(base_url.strip())
            port_ok = parts.port is None or parts.port > 0
        except ValueError:  # an unbalanced IPv6 bracket, a port that is not a number
            parts, port_ok = urlsplit(""), False
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment \
                or not port_ok:
            raise ConfigError(f"{where}.base_url: an http(s) address where the website is served, like "
                              f"\"https://example.org/trials/\", got {base_url!r}")
        base_url = base_url.strip().rstrip("/") + "/"
    return SiteSettings(out_dir=out_dir, base_url=base_url)


TRIAL_KEYS = {"key", "labels", "title", "acronym", "enrolled", "target", "completed", "as_of", "evidence", "source_url",
              "ids"}
_TRIAL_KEY = re.compile(r"^[a-z][a-z0-9._-]{0,63}$")


def trials_from_tables(tables: list[Any], source: str) -> list[DeclaredTrial]:
    """``[[trial]]`` tables: a trial without a registry id yet, named by a key, tied to text by labels,
    with the figures already known when watching began (so only newer figures are news)."""
    out: list[DeclaredTrial] = []
    owner: dict[str, str] = {}
    for i, table in enumerate(tables):
        where = f"{source} [[trial]] #{i + 1}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table")
        _no_unknown(table, TRIAL_KEYS, where)
        key = table.get("key")
        if not isinstance(key, str) or not _TRIAL_KEY.match(key):
            raise ConfigError(f"{where}.key: a lowercase name like \"resetme\", got {key!r} (registry ids go in "
                              "ids = [\"NCT…\", \"2025-…\"])")
        where = f"{where} (key {key!r})"
        if any(t.key == key for t in out):
            raise ConfigError(f"{where}.key: duplicate trial key {key!r}")
        labels = _take(table, "labels", list, where, [key])
        if not labels or not all(isinstance(x, str) and x for x in labels):
            raise ConfigError(f"{where}.labels: must be a non-empty list of strings")
        for label in labels:
            if label in owner:
                raise ConfigError(f"{where}.labels: label {label!r} already names trial {owner[label]!r}")
            owner[label] = key
        figures = {}
        for name in ("enrolled", "target", "completed"):
            value = _take(table, name, int, where, None)
            if value is not None and value < 0:
                raise ConfigError(f"{where}.{name}: must not be negative, got {value}")
            figures[name] = value
        as_of = _take(table, "as_of", (str, int), where, None)
        ids = _take(table, "ids", list, where, [])
        for ident in ids:
            if not isinstance(ident, str) or scheme_of(ident.strip()) is None:
                raise ConfigError(f"{where}.ids: {ident!r} is not a registry id (NCT01234567, an EU CT number "
                                  "2025-512345-12-00, a EudraCT number 2022-000281-18 or ISRCTN12345678)")
        out.append(DeclaredTrial(
            key=key, labels=tuple(labels), title=_take(table, "title", str, where, None),
            acronym=_take(table, "acronym", str, where, None), **figures,
            as_of=str(as_of) if as_of is not None else None, evidence=_take(table, "evidence", str, where, None),
            source_url=_take(table, "source_url", str, where, None), ids=tuple(i.strip() for i in ids)))
    return out


def load_seed_trials() -> list[DeclaredTrial]:
    """The trials declared in ``seeds/watchlist.toml`` (ResetME and its starting figures)."""
    text = resources.files("seeds").joinpath("watchlist.toml").read_text(encoding="utf-8")
    return trials_from_tables(tomllib.loads(text).get("trial", []), "seeds/watchlist.toml")
