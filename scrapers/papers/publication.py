"""What Europe PMC and PubMed records share: one publication record shape and one DOI form.

A paper found by both services must be ONE ``new_publication``. The diff engine's publication spec
(:data:`storage.diff.PUBLICATION`) gives every publication the identity ``doi:<doi>`` (else
``pmid:<n>``), and the event id is built from it, so the second sighting is "already known" in the
events table. That only works if both sources write the DOI the same way, which is this module's
job: :func:`normalise_doi` strips the resolver prefixes and ``doi:`` labels the services use and
lower-cases the result (DOIs are case-insensitive; Europe PMC and PubMed differ in case for the
same paper, e.g. ``10.1158/0008-5472.CAN-09-4563`` vs ``…can-09-4563``).
"""

from __future__ import annotations

import re
from typing import Any

from scrapers.records import Item

#: a DOI as it appears in the wild: "10.<registrant>/<suffix>", suffix up to whitespace
_DOI = re.compile(r"10\.\d{4,9}/\S+")
_PREFIXES = re.compile(r"^(?:doi\s*:\s*|https?://(?:dx\.)?doi\.org/|urn:doi:)", re.I)

#: the record fields every publication source writes, in this order
FIELDS = ("title", "doi", "pmid", "journal", "published", "url", "authors", "source", "abstract")


def normalise_doi(value: Any) -> str | None:
    """``"https://doi.org/10.3389/FMED.2025.1607353"`` → ``"10.3389/fmed.2025.1607353"``; None if not a DOI."""
    if not isinstance(value, str):
        return None
    text = _PREFIXES.sub("", value.strip())
    match = _DOI.search(text)
    if not match:
        return None
    doi = match.group().rstrip(".,;")
    while doi.endswith(")") and doi.count(")") > doi.count("("):  # "(doi: 10.x/y)" in prose
        doi = doi[:-1].rstrip(".,;")
    return doi.lower()


def normalise_pmid(value: Any) -> str | None:
    """A PubMed id as a digit string ("27933103"); None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str) and value.strip().isdigit():
        return str(int(value.strip()))
    return None


def strip_trailing_period(text: str | None) -> str | None:
    """Author lists end with "." in Europe PMC ("Liu J, Chang X."), not in PubMed; drop it."""
    if not text:
        return None
    return text[:-1].rstrip() if text.endswith(".") else text


def pubmed_url(pmid: str) -> str:
    return f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"


def europepmc_url(source: str, ident: str) -> str:
    return f"https://europepmc.org/article/{source}/{ident}"


def publication(key: str, **fields: Any) -> Item:
    """A publication item with every field of :data:`FIELDS` present, in one order."""
    unknown = set(fields) - set(FIELDS)
    if unknown:  # a programming error, not a data problem
        raise TypeError(f"unknown publication field(s): {sorted(unknown)}")
    return Item(key=key, fields={name: fields.get(name) for name in FIELDS})
