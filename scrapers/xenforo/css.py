"""``select`` / ``select_one`` without soupsieve: the CSS subset the XenForo rules use, as precompiled XPath.

A :class:`Selector` compiles its CSS into XPath that finds a *superset* of the matches (class tests
are ``contains(@class, …)``), then checks each candidate in Python with BeautifulSoup's own class
splitting (any Unicode whitespace) and soupsieve's rules: ancestors are not bounded by the element
searched, a ``<template>``'s content is not part of the document. Exact, and C-speed where it counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from scrapers.xenforo.dom import Context, Element, classes

__all__ = ["Scope", "Selector", "first_match"]

_TOKEN = re.compile(
    r"\s*(?P<comb>[>,])\s*|(?P<ws>\s+)|(?P<tag>[a-zA-Z][\w-]*|\*)|\.(?P<cls>[\w-]+)|#(?P<id>[\w-]+)"
    r"|\[(?P<attr>[\w-]+)(?:(?P<op>[\^*]?=)['\"]?(?P<val>[^'\"\]]*)['\"]?)?\]|:not\(\.(?P<notcls>[\w-]+)\)"
)


@dataclass
class _Compound:
    """One compound selector: ``tag.class#id[attr^=v]:not(.c)``."""

    tag: str | None = None
    classes: tuple[str, ...] = ()
    id: str | None = None
    attrs: tuple[tuple[str, str | None, str], ...] = ()  # (op, value, name); op None = present
    not_classes: tuple[str, ...] = ()

    def xpath(self) -> str:
        preds = [f"contains(@class, '{c}')" for c in self.classes]
        if self.id is not None:
            preds.append(f"@id = '{self.id}'")
        for op, value, name in self.attrs:
            if op is None:
                preds.append(f"@{name}")
            elif op == "=":
                preds.append(f"@{name} = '{value}'")
            elif op == "^=":
                preds.append(f"starts-with(@{name}, '{value}')")
            else:
                preds.append(f"contains(@{name}, '{value}')")
        return (self.tag or "*") + "".join(f"[{p}]" for p in preds)

    def matches(self, el: Element) -> bool:
        tag = el.tag
        if not isinstance(tag, str) or (self.tag is not None and tag != self.tag):
            return False
        if self.classes or self.not_classes:
            tokens = classes(el)
            if any(c not in tokens for c in self.classes) or any(c in tokens for c in self.not_classes):
                return False
        if self.id is not None and el.get("id") != self.id:
            return False
        for op, value, name in self.attrs:
            got = el.get(name)
            if got is None:
                return False
            if op == "=" and got != value:
                return False
            if op == "^=" and not (value and got.startswith(value)):
                return False
            if op == "*=" and not (value and value in got):
                return False
        return True


def _parse_group(css: str) -> list[tuple[str, _Compound]]:
    """``"a.b > c d"`` → ``[(" ", a.b), (">", c), (" ", d)]`` (the first combinator is unused)."""
    out: list[tuple[str, _Compound]] = []
    comb = " "
    cur: _Compound | None = None
    pos = 0
    css = css.strip()
    while pos < len(css):
        m = _TOKEN.match(css, pos)
        if not m or m.end() == pos:
            raise ValueError(f"unsupported selector {css!r} at {pos}")
        pos = m.end()
        if m.group("comb") or m.group("ws"):
            if cur is not None:
                out.append((comb, cur))
                cur = None
            comb = m.group("comb") or " "
            continue
        cur = cur or _Compound()
        if m.group("tag"):
            cur.tag = None if m.group("tag") == "*" else m.group("tag").lower()
        elif m.group("cls"):
            cur.classes += (m.group("cls"),)
        elif m.group("id"):
            cur.id = m.group("id")
        elif m.group("attr"):
            cur.attrs += ((m.group("op"), m.group("val"), m.group("attr").lower()),)
        else:
            cur.not_classes += (m.group("notcls"),)
    if cur is not None:
        out.append((comb, cur))
    return out


def _ancestors(el: Element) -> Iterator[Element]:
    """soupsieve's way up: a ``<template>`` holds its own tree, so the walk stops below one."""
    for anc in el.iterancestors():
        if anc.tag == "template":
            return
        yield anc


def _chain_matches(el: Element, chain: list[tuple[str, _Compound]], i: int) -> bool:
    """Whether ``el`` matches ``chain[i]`` with the combinators before it (ancestors are not bounded
    by the element ``select`` was called on: soupsieve does not bound them either)."""
    if not chain[i][1].matches(el):
        return False
    if i == 0:
        return True
    if chain[i][0] == ">":
        parent = el.getparent()
        return parent is not None and parent.tag != "template" and _chain_matches(parent, chain, i - 1)
    return any(_chain_matches(anc, chain, i - 1) for anc in _ancestors(el))


def _outside_templates(el: Element, ctx: Context) -> bool:
    """soupsieve does not enter a ``<template>`` below the element searched (its content is not part
    of the document); the element searched may itself be one."""
    for tpl in el.iterancestors("template"):
        if tpl is ctx:
            return True
        return not any(anc is ctx for anc in tpl.iterancestors())
    return True


@dataclass
class Scope:
    """What an element and its ancestors could match (tags, class tokens, ids): lets a selector
    search downwards only when no part of it can match above the element searched."""

    tags: set[str]
    tokens: set[str]
    ids: set[str]

    @classmethod
    def of(cls, el: Element) -> Scope:
        tags: set[str] = set()
        tokens: set[str] = set()
        ids: set[str] = set()
        for node in (el, *el.iterancestors()):
            tags.add(node.tag)
            cls_attr = node.get("class")
            if cls_attr:
                tokens.update(cls_attr.split())
            node_id = node.get("id")
            if node_id is not None:
                ids.add(node_id)
        return cls(tags, tokens, ids)

    def may_match(self, compound: _Compound) -> bool:
        return ((compound.tag is None or compound.tag in self.tags)
                and all(c in self.tokens for c in compound.classes)
                and (compound.id is None or compound.id in self.ids))


class Selector:
    """``tag.select(css)`` / ``tag.select_one(css)`` for the CSS subset the XenForo rules use.

    Tags, ``.class``, ``#id``, ``[attr]``, ``[attr=v]``, ``[attr^=v]``, ``[attr*=v]``,
    ``:not(.class)``, descendant and child combinators, comma lists. Matches are descendants of the
    element searched (or any element of a document searched: ``soup.select``), in document order,
    each once.

    Two XPaths: one that looks down from the element searched (fast: the whole selector lies below
    it) and one that checks ancestors without bound (soupsieve's rule: ``.a .b`` searched inside an
    ``.a`` finds every ``.b``); the second is used only when the :class:`Scope` says that a part of
    the selector may match the element searched or one of its ancestors.
    """

    def __init__(self, css: str, *, look: str | None = None) -> None:
        """``look`` ("up" or "down") says which XPath is cheaper on real pages; by default "up" when
        only the last part names a tag (few candidates, short walks up), else "down"."""
        self.css = css
        self._groups = [_parse_group(g) for g in css.split(",")]
        self._upper = [compound for chain in self._groups for _, compound in chain[:-1]]
        lasts = [chain[-1][1] for chain in self._groups]
        uppers = {tuple((comb, c.xpath()) for comb, c in chain[:-1]) for chain in self._groups}
        if len(self._groups) > 1 and len(uppers) == 1 and all(
            c.tag and c == _Compound(tag=c.tag) for c in lasts
        ):
            # "X a, X span, X li": one pass over X's descendants, not three
            merged = "*[" + " or ".join(f"self::{c.tag}" for c in lasts) + "]"
            chains = [[*[(comb, c) for comb, c in self._groups[0][:-1]], (self._groups[0][-1][0], merged)]]
        else:
            chains = [[(comb, c) for comb, c in chain] for chain in self._groups]
        down, up = [], []
        for chain in chains:
            xps = [c if isinstance(c, str) else c.xpath() for _, c in chain]
            steps = [xps[0]]
            for (comb, _), xp in zip(chain[1:], xps[1:]):
                steps.append(("" if comb == ">" else "descendant::") + xp)
            down.append("descendant::" + "/".join(steps))
            # Narrow with the ancestors too (still a superset: class tests are substring tests).
            cond = ""
            for j in range(1, len(chain)):
                axis = "parent" if chain[j][0] == ">" else "ancestor"
                cond = f"[{axis}::{xps[j - 1]}{cond}]"
            up.append("descendant::" + xps[-1] + cond)
        self._down = etree.XPath(" | ".join(down))
        self._up = etree.XPath(" | ".join(up)) if self._upper else self._down
        # A document is searched from its very top: damaged markup can leave a second <html> beside
        # the first, and BeautifulSoup saw that one too.
        self._doc_down = etree.XPath(" | ".join("/" + d for d in down))
        self._doc_up = etree.XPath(" | ".join("/" + u for u in up))
        if look is None:
            tag_last_only = all(c.tag for c in lasts) and not any(c.tag for c in self._upper)
            look = "up" if tag_last_only else "down"
        self._look_down = look == "down"

    def _candidates(self, ctx: Context, scope: Scope | None) -> list[Element]:
        if isinstance(ctx, etree._ElementTree):
            return self._doc_down(ctx) if self._look_down else self._doc_up(ctx)
        if not self._upper:
            return self._down(ctx)
        if not self._look_down:
            return self._up(ctx)
        scope = scope or Scope.of(ctx)
        if any(scope.may_match(c) for c in self._upper):
            return self._up(ctx)
        return self._down(ctx)

    def _exact(self, el: Element, ctx: Context) -> bool:
        return any(_chain_matches(el, chain, len(chain) - 1) for chain in self._groups) and _outside_templates(
            el, ctx
        )

    def all(self, el: Context | None, scope: Scope | None = None) -> list[Element]:
        """``el.select(css)``; ``scope`` (of ``el``) saves recomputing it for many selectors."""
        if el is None:
            return []
        return [c for c in self._candidates(el, scope) if self._exact(c, el)]

    def first(self, el: Context | None, scope: Scope | None = None) -> Element | None:
        """``el.select_one(css)``."""
        if el is None:
            return None
        return next((c for c in self._candidates(el, scope) if self._exact(c, el)), None)

    def __repr__(self) -> str:
        return f"Selector({self.css!r})"


def first_match(ctx: Context | None, *selectors: Selector) -> Element | None:
    """``ctx.select_one(a) or ctx.select_one(b)``: a BeautifulSoup tag is always true, an lxml
    element without children is false, so ``or`` cannot be used on elements."""
    for selector in selectors:
        found = selector.first(ctx)
        if found is not None:
            return found
    return None
