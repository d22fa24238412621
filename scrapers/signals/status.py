"""Sentences that announce a state rather than a figure: recruitment complete, and results.

Both are regexes over the normalised sentence, one alternation per language, case-insensitive. Every
gap inside a pattern is bounded ("up to three words") and may not swallow a negation, so "die
Rekrutierung ist noch nicht abgeschlossen" and "results are not yet published" stay silent. A match
counts only when the clause before it is not a negation or a condition (:func:`reported`).
"""

from __future__ import annotations

import re

_I = re.IGNORECASE
#: one word that is not a negation, a plan or a wait; used to bound the gaps in the patterns below
_W = (r"(?:(?!(?:not|no|yet|nicht|noch|kein\w*|ikke|ennå|niet|nog|geen|will|skal|soll\w*|werden|zal|zullen"
      r"|expected|due|erwartet|forventet|ventes|verwacht)(?![\w-]))[^\W\d][\w.]*\s+)")

#: a gap word in a "recruitment ... complete" pattern: not a negation, a plan, a wait, a hope or "almost"
_G = (r"(?:(?!(?:not|no|yet|nicht|noch|kein\w*|ikke|ennå|niet|nog|geen|will|skal|soll\w*|werden|zal|zullen"
      r"|expected|due|erwartet|forventet|ventes|verwacht|be|to|hope\w*|plan\w*|aim\w*|should|could|would|may|might"
      r"|must|almost|nearly|soon|until|by|when|once|if|nesten|snart|innen|bald|fast|bis|bijna|binnenkort|tot|voor"
      r"|når|hvis|wenn|sobald|falls|als|zodra|kan|kunne|kann|können|kunnen|må|muss)(?![\w-]))[^\W\d][\w.-]*\s+)")
#: the place recruitment is for: "Recruitment to the ResetME study", "Die Rekrutierung für die ResetME-Studie"
_FOR = (rf"(?:(?:to|for|in|into|at|til|for|i|ved|für|in|zur|zum|der|voor|van|in|bij|aan)\s+{_G}{{0,6}})?")
#: "with 120 included patients" between the recruitment and its end: "wurde mit 120 eingeschlossenen Patienten beendet"
_WITH = r"(?:(?:with|med|mit|met)\s+\d+(?:[.,\u00a0\u202f ]\d{3})*\s+(?:[^\W\d][\w-]*\s+){0,2})?"
#: the places are all filled: complete unless the sentence's own figures say otherwise ("34 av 66 plasser er fylt")
PLACES_FILLED: dict[str, re.Pattern[str]] = {
    "en": re.compile(r"\b(?:places|slots|spots|seats)\s+(?:\w+\s+){0,5}?(?:are|have\s+been)\s+(?:now\s+)?(?:filled|taken)\b", _I),
    "nb": re.compile(r"\b\w*plass(?:ene|er)?\s+er\s+(?:nå\s+)?(?:fylt|tatt|besatt)", _I),
    "de": re.compile(r"\b\w*plätze\s+sind\s+(?:\w+\s+)?(?:vergeben|besetzt|belegt)", _I),
    "nl": re.compile(r"\b\w*(?:plaatsen|plekken)\s+zijn\s+(?:\w+\s+)?(?:bezet|vergeven|gevuld)", _I),
}
RECRUITMENT_COMPLETE: dict[str, re.Pattern[str]] = {
    "en": re.compile(
        rf"\b(?:enrol{{1,2}}ment|recruitment|randomi[sz]ation|inclusion)\s+{_FOR}(?:(?:is|was|has|had|have)\s+)?"
        rf"(?:been\s+)?{_G}{{0,2}}(?:fully\s+)?(?:complete|completed|closed|finished|concluded)\b"
        r"|\b(?:enrol{1,2}ment|recruitment)\s+status\s*:\s*(?:closed|completed?|finished)\b"
        r"|\b(?:reached|hit|met|achieved|attained)\s+(?:its|their|the)\s+(?:recruitment\s+|enrol{1,2}ment\s+)?"
        r"(?:goal|target)\b"
        r"|\b(?:recruitment|enrol{1,2}ment)\s+(?:goal|target)\s+(?:of\s+)?(?:\d+\s+|" + _G + r"){0,4}?"
        r"(?:was|has\s+been|had\s+been|is)\s+(?:now\s+)?(?:met|reached|achieved|hit)\b"
        r"|\b(?:completed|finished|closed|concluded)\s+(?:(?:its|their|the|patient|participant)\s+)?"
        r"(?:enrol{1,2}ment|recruitment|randomi[sz]ation)"
        rf"|\b(?:enrol{{1,2}}ment|recruitment)\s+{_FOR}(?:ended|stopped)\b"
        r"|\bfully\s+(?:recruited|enrol{1,2}ed)|\b(?:trial|study)\s+is\s+(?:now\s+)?(?:full|(?:fully\s+)?booked)\b", _I),
    "nb": re.compile(
        rf"\b(?:rekruttering|inklusjon|innrullering)(?:en)?\s+{_FOR}(?:er|ble|har\s+blitt|var)\s+"
        rf"{_G}{{0,3}}{_WITH}(?:fullført|avsluttet|avslutta|stengt|lukket|ferdig|fullt?)\b"
        rf"|\b(?:er|ble)\s+(?:nå\s+)?(?:rekruttering|inklusjon)(?:en)?\s+{_FOR}(?:nå\s+)?(?:fullført|avsluttet|avslutta"
        r"|stengt|lukket|ferdig)\b"
        r"|\bfulltegnet\b|\b(?:studien|forsøket)\s+er\s+(?:nå\s+)?full\b"
        r"|\b(?:nådde|nådd|oppnådde|oppnådd)\s+(?:sitt\s+|det\s+)?(?:rekrutterings|inklusjons)?mål(?:et)?\b"
        r"|\b(?:rekrutterings|inklusjons)mål(?:et)?\s+(?:på\s+)?(?:\d+\s+|" + _G + r"){0,4}?"
        r"(?:ble|er|har\s+blitt)\s+(?:nå\s+)?(?:nådd|oppnådd)\b", _I),
    "de": re.compile(
        rf"\b(?:rekrutierung|einschluss|aufnahme|patientenrekrutierung)\s+{_FOR}(?:ist|wurde|war|sind)\s+"
        rf"{_G}{{0,3}}{_WITH}(?:abgeschlossen|beendet|vollständig)\b"
        rf"|\b(?:ist|wurde)\s+(?:nun\s+|jetzt\s+)?die\s+(?:rekrutierung|patientenrekrutierung)\s+{_FOR}"
        r"(?:nun\s+|jetzt\s+)?(?:abgeschlossen|beendet)\b"
        rf"|\b(?:rekrutierung|einschluss)\s+{_FOR}endete\b"
        r"|\bvoll\s+rekrutiert|\bausgebucht\b|\b(?:studie|studien)\s+ist\s+(?:nun\s+|jetzt\s+|inzwischen\s+)?voll\b"
        r"|\b(?:rekrutierungs|einschluss)ziel\s+(?:von\s+)?(?:\d+\s+|" + _G + r"){0,4}?(?:wurde\s+|ist\s+)?"
        r"(?:nun\s+|jetzt\s+)?erreicht\b"
        r"|\b(?:hat|haben|erreichte|erreichten)\s+(?:das|ihr|sein)\s+(?:rekrutierungs|einschluss)?ziel\b"
        r"(?:\s+erreicht)?", _I),
    "nl": re.compile(
        rf"\b(?:werving|inclusie|rekrutering)\s+{_FOR}(?:is|werd|was)\s+"
        rf"{_G}{{0,3}}{_WITH}(?:afgerond|afgesloten|gesloten|gestopt|voltooid|beëindigd|compleet|volledig|rond)\b"
        rf"|\b(?:is|werd)\s+(?:nu\s+)?de\s+(?:werving|inclusie|rekrutering)\s+{_FOR}(?:nu\s+)?(?:afgerond|afgesloten"
        r"|gesloten|gestopt|voltooid|beëindigd|compleet|rond)\b"
        rf"|\b(?:werving|inclusie)\s+{_FOR}(?:stopte|eindigde)\b"
        r"|\bzit\s+(?:nu\s+)?vol\b|\b(?:studie|onderzoek)\s+is\s+(?:nu\s+|inmiddels\s+)?vol\b"
        r"|\b(?:streefaantal|streefgetal|inclusiedoel|wervingsdoel)\s+(?:van\s+)?(?:\d+\s+|" + _G + r"){0,4}?"
        r"(?:is\s+|werd\s+)?(?:nu\s+|inmiddels\s+)?(?:bereikt|gehaald|behaald)\b"
        r"|\b(?:bereikte|haalde|behaalde)\s+(?:het|haar|zijn)\s+(?:streefaantal|streefgetal|inclusiedoel|doel)\b", _I),
}

_DONE_EN = r"(?:published|posted|released|announced|presented|reported|made\s+(?:public|available)|available|out)"
RESULTS: dict[str, re.Pattern[str]] = {
    "en": re.compile(
        r"\bresults\s+(?:(?:of|from|for)\s+(?:the\s+)?[\w/ -]{1,40}?\s+)?(?:were|was|have|has|had|are|is)\s+"
        rf"(?:(?:now|just|finally|been|today)\s+)*{_DONE_EN}\b"
        r"|\b(?:published|posted|released|announced|presented)\s+(?:its|their|the)?\s*(?:\w+\s+){0,2}?"
        r"(?:results|findings|data)\b"
        r"|\b(?:top-?\s?line|headline)\s+(?:results|data|findings)\b(?!\s+(?:(?:are|is|were)\s+)?(?:not\b|expected"
        r"|due|anticipated|pending|awaited|planned|scheduled|will|should|could|may|might))"
        r"|\bprimary\s+(?:end\s*-?\s*point|outcome)\s+(?:was|were|has\s+been|had\s+been)\s+(?:not\s+)?"
        r"(?:met|achieved|reached|missed)\b"
        r"|\b(?:met|missed|achieved|reached|(?:did|has|had)\s+not\s+(?:meet|met|achieve|reach)|failed\s+to"
        r"\s+(?:meet|achieve|reach))\s+(?:its|the|their)\s+primary\s+(?:end\s*-?\s*point|outcome)", _I),
    "nb": re.compile(
        r"\b(?:hoved|topp)?resultat(?:ene|er)?\b\s+(?:fra\s+[\w-]+(?:\s+[\w-]+)?\s+)?(?:er|ble|har\s+blitt)\s+"
        rf"{_W}{{0,2}}(?:publisert|lagt\s+(?:fram|frem|ut)|offentliggjort|presentert|kunngjort)\b"
        r"|\b(?:publisert|presentert|lagt\s+fram|lagt\s+frem|offentliggjort)\s+(?:sine\s+|de\s+)?(?:første\s+)?"
        r"resultat"
        r"|\b(?:hoved|topp)resultat(?:ene|er)?\s+(?:viser|tyder)"
        r"|\b(?:nådde|oppnådde)\s+(?:ikke\s+)?(?:sitt|det)\s+primære\s+endepunkt"
        r"|\bprimære\s+endepunkt(?:et)?\s+(?:ble|er|var)\s+(?:ikke\s+)?(?:nådd|oppnådd)", _I),
    "de": re.compile(
        r"\b(?:erste\s+)?ergebnisse\b\s+(?:(?:der|des|aus|von)\s+[\w-]+(?:\s+[\w-]+)?\s+)?(?:wurden|sind|waren"
        rf"|wurde|ist)\s+{_W}{{0,5}}(?:veröffentlicht|publiziert|vorgestellt|präsentiert|bekanntgegeben"
        r"|bekannt\s+gegeben|eingestellt)\b"
        r"|\b(?:haben|hat)\s+(?:ihre|seine|die)\s+(?:\w+\s+)?ergebnisse\s+(?:\w+\s+){0,4}?(?:veröffentlicht|publiziert"
        r"|vorgestellt|präsentiert)"
        r"|\btop-?line-?ergebnisse\b(?!\s+(?:werden|sind\s+noch|sollen))"
        r"|\b(?:erreichte|verfehlte)\s+(?:nicht\s+)?(?:den|ihren|seinen)\s+primären\s+endpunkt"
        r"|\bhat\s+(?:den|ihren|seinen)\s+primären\s+endpunkt\s+(?:nicht\s+)?(?:erreicht|verfehlt)"
        r"|\bprimäre\s+endpunkt\s+wurde\s+(?:nicht\s+)?(?:erreicht|verfehlt)", _I),
    "nl": re.compile(
        r"\bresultaten\b\s+(?:van\s+[\w-]+(?:\s+[\w-]+)?\s+)?(?:zijn|werden|waren|is|werd)\s+"
        rf"{_W}{{0,5}}(?:gepubliceerd|gepresenteerd|bekendgemaakt|bekend\s+gemaakt|vrijgegeven"
        r"|openbaar\s+gemaakt)\b"
        r"|\bresultaten\s+staan\s+(?:nu\s+)?(?:online|op)\b"
        r"|\b(?:hebben|heeft)\s+(?:hun|haar|zijn|de)\s+(?:\w+\s+)?resultaten\s+(?:\w+\s+){0,4}?(?:gepubliceerd"
        r"|gepresenteerd|bekendgemaakt)"
        r"|\btop-?line-?resultaten\b(?!\s+(?:worden|zijn\s+nog|zullen))"
        r"|\bprimaire\s+eindpunt\s+(?:werd|is|was)\s+(?:niet\s+)?(?:gehaald|bereikt|behaald)"
        r"|\b(?:heeft|hebben)\s+(?:het|haar|zijn)\s+primaire\s+eindpunt\s+(?:niet\s+)?(?:gehaald|bereikt|behaald)"
        r"|\b(?:haalde|bereikte|miste)\s+(?:het|haar|zijn)\s+primaire\s+eindpunt", _I),
}

#: a clause that starts like this is a plan, a condition or a denial, not a report
_NOT_A_REPORT = re.compile(
    r"\b(?:once|until|till|unless|if|whether|when|whenever|no|not|never|yet\s+to|awaiting|await"
    r"|hvis|dersom|når|ikke|ingen|aldri|wenn|falls|sobald|ob|nicht|kein\w*|nie|bevor"
    r"|als|indien|zodra|tenzij|wanneer|niet|geen|nooit)\b", re.I)
_CLAUSE_START = re.compile(r"[,;:(—–]")


def reported(sentence: str, start: int) -> bool:
    """False when the clause before ``start`` makes the match hypothetical or negated."""
    before = sentence[max(0, start - 300): start]
    cut = max(before.rfind(c) for c in ",;:(—–")
    clause = before[cut + 1:] if cut >= 0 else before
    return not _NOT_A_REPORT.search(clause)


def recruitment_complete(sentence: str, lang: str, places: bool = True) -> bool:
    """The sentence says recruitment is complete, closed or full (in its own language or English).

    ``places=False`` leaves out "the places are filled", which a fraction in the same sentence
    contradicts ("Trettifire av sekstiseks plasser er fylt": some places are).
    """
    patterns = (RECRUITMENT_COMPLETE, PLACES_FILLED) if places else (RECRUITMENT_COMPLETE,)
    for code in dict.fromkeys((lang, "en")):
        for table in patterns:
            for m in table[code].finditer(sentence):
                if reported(sentence, m.start()):
                    return True
    return False


def announces_results(sentence: str, lang: str) -> bool:
    """The sentence announces results: published/posted/presented, topline, primary endpoint met or not."""
    for code in dict.fromkeys((lang, "en")):
        for m in RESULTS[code].finditer(sentence):
            if reported(sentence, m.start()):
                return True
    return False


def complete_at(sentence: str, lang: str) -> int | None:
    """Where the first reported "recruitment complete" phrase starts (None: there is none)."""
    starts = [m.start() for code in dict.fromkeys((lang, "en")) for table in (RECRUITMENT_COMPLETE, PLACES_FILLED)
              for m in table[code].finditer(sentence) if reported(sentence, m.start())]
    return min(starts) if starts else None
