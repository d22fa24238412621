"""The cue words of each language and what they say about a number near them.

Every word is looked up in its lower-case form; most entries are regexes over one token so that
inflections need no list of their own ("eingeschlossen", "eingeschlossenen"; "inkludert", "inkluderte").
The kinds:

- ``ENROL`` (achieved: enrolled, included, recruited, randomised, "taking part") → ``enrolled``
- ``ENROL_PLAN`` (the infinitive: "to include", "inkludere", "einschließen", "includeren") → ``target``
- ``ENROL_NOUN`` (recruitment, Rekrutierung, inclusie ...) → ``enrolled`` unless a plan word says target
- ``TARGET`` (target, goal, planned, aim, "sample size", Fallzahl, beoogd ...) → ``target``
- ``COMPLETE`` (completed, finished, done, fullført, abgeschlossen, afgerond) → ``completed``
- ``FULL`` (filled, full, fylt, vergeben, bezet) and ``PLACES`` (places, plasser, Plätze, plaatsen)
- ``SIZE`` (a study "involving"/"including" N people: achieved when told in the past, else planned)
- ``PROGRESS`` (so far, to date, hittil, bisher, inmiddels ...): a weak ``enrolled`` cue
- ``VETO``: the clause is about something else, so none of its numbers is an enrollment figure:
  responders, side effects, drop-outs, screening, waiting lists, people who asked to join, surveys,
  negations and conditions ("not", "if", "once", "ikke", "hvis", "wenn", "falls", "als", "zodra" ...)
- ``MODAL`` (will, skal, sollen, zullen ...): turns an enrolled cue in the clause into a target
- ``INCREMENT`` (more, new, another, nye, weitere, nieuwe ...): "four more this month" is not a total
- ``TOTAL`` (in total, totalt, insgesamt, in totaal): the number is a running total
- ``LEFT`` (left, remaining, igjen, ledige, frei, übrig, vrij, over): next to a places word the number is the
  places still free ("only 8 places left of 66"), not a count; the other number is the target
- ``REACHED`` (reached, hit, nådd, erreicht, bereikt, gehaald): "the goal of 66 was reached" gives enrolled =
  target = 66 and recruitment complete
"""

from __future__ import annotations

import re
from typing import Final

ENROL: Final = "enrol"
ENROL_PLAN: Final = "enrol_plan"
ENROL_NOUN: Final = "enrol_noun"
TARGET: Final = "target"
TARGET_ADJ: Final = "target_adj"
#: a plan verb (hope, want, need, ønsker, möchten, willen): a target only when the sentence is about people
TARGET_VERB: Final = "target_verb"
COMPLETE: Final = "complete"
FULL: Final = "full"
PLACES: Final = "places"
SIZE: Final = "size"
PROGRESS: Final = "progress"
IN: Final = "in"
VETO: Final = "veto"
MODAL: Final = "modal"
INCREMENT: Final = "increment"
TOTAL: Final = "total"
ALL: Final = "all"
#: "left", "igjen", "frei", "vrij": with a places word, the number is what is still free, not a count
LEFT: Final = "left"
#: "reached", "nådde", "erreicht", "bereikt": with a target word, the target has been reached
REACHED: Final = "reached"

#: (kind, pattern over one lower-case token) per language; the first match wins
_WORD_CUES: dict[str, list[tuple[str, str]]] = {
    "en": [
        (VETO, r"respond(?:ed|ers?|ing)?|responses?|improv\w*|better|recover\w*|relaps\w*|adverse|withdr[ae]w\w*"
               r"|dropouts?|discontinu\w*|excluded|died|deaths?|screen(?:ed|ing)?|waiting|waitlist\w*|asked"
               r"|appl(?:ied|y|ications?)|interest(?:ed)?|contacted|enquir\w*|inquir\w*|questionnaires?|surveys?"
               r"|polls?|petition|felt|feel|crash(?:es)?|eligibility|reactions|diagnos\w*|ineligible|lottery|effects|dropped|signed|ask|asking|relapsed|cells?|count|nk|threshold|microlit\w*|scor\w*|scales?"
               r"|not|no|never|none|nobody|if|once|until|unless|whether|when|whenever|cannot|\w+n[’']t|yet|would|could"
               r"|worldwide|globally|nationwide|prevalence|suffer\w*"),
        (ENROL, r"enrol{1,2}ed|recruited|randomi[sz]ed|enlisted|joined|participating|participated|underwent|actual"
                r"|involved"),
        (ENROL_PLAN, r"enrol{1,2}s?|recruit(?:s|ing)?|randomi[sz]e|include|reach|enrol{1,2}ing"),
        (SIZE, r"involv(?:e|es|ing)|includ(?:es|ing)"),
        (ENROL, r"included"),
        (ENROL_NOUN, r"enrol{1,2}ments?|recruitment|randomi[sz]ation"),
        (REACHED, r"reached|achieved|attained|met|hit"),
        (TARGET_ADJ, r"planned|intended|targeted|required|needed|anticipated|estimated|powered"),
        (TARGET_VERB, r"aims?|aiming|plans?|intends?|want(?:s|ed)?|hop(?:e|es|ing)|needs?|seeks?|designed"),
        (TARGET, r"target|goal|sample|capacity"),
        (COMPLETE, r"completed|completing|complete|finished|finishing|done"),
        (FULL, r"filled|full|fully|taken"),
        (PLACES, r"places|slots|spots|seats"),
        (LEFT, r"left|remaining|remain|free|open|available|vacant"),
        (PROGRESS, r"far|date|now|already|started|began|begun|counter|tally"),
        (MODAL, r"will|shall|should|ll|expected|expects|going|set"),
        (INCREMENT, r"more|new|another|additional|further|extra"),
        (TOTAL, r"total|overall|altogether|cumulative"),
        (ALL, r"all|every|each"),
    ],
    "nb": [
        (VETO, r"respond\w*|bedring|bedre|forbedr\w*|effekt\w*|bivirkning\w*|tilbakefall\w*|trakk|avbrøt|avbrutt"
               r"|ekskluder\w*|døde|dødsfall|screen\w*|venteliste\w*|spurt|søkt|søknad\w*|meldt|interesse\w*"
               r"|henvend\w*|kontakt\w*|spørreskjema\w*|spørreundersøk\w*|svarte|signert|opprop\w*|diagnos\w*"
               r"|følte|opplevde|ikke|ingen|aldri|hvis|dersom|når|uten|nk|celle\w*|poeng|skår\w*|skala"
               r"|verdensbasis|lider"),
        (ENROL, r"inkludert|inkluderte|rekruttert|rekrutterte|randomisert|randomiserte|innrullert|deltar|deltok"
                r"|deltatt|faktisk"),
        (ENROL_PLAN, r"inkludere|inkluderes|rekruttere|rekrutteres|randomisere|randomiseres"),
        (ENROL_NOUN, r"rekruttering(?:en)?|inklusjon(?:en)?|randomisering(?:en)?"),
        (REACHED, r"nådd|nådde|oppnådd|oppnådde"),
        (TARGET, r"rekrutteringsmål\w*|inklusjonsmål\w*"),
        (ENROL_NOUN, r"rekruttering\w*|inklusjon\w*|randomisering\w*"),
        (TARGET_ADJ, r"planlagte|planlagt|ønskede|nødvendige|dimensjonert"),
        (TARGET_VERB, r"planlegger|ønsker|håper|trenger"),
        (TARGET, r"mål|målet|sikte|utvalgsstørrelse\w*|utvalget"),
        (COMPLETE, r"fullført|fullførte|gjennomført|gjennomførte|ferdig|ferdige|avsluttet"),
        (FULL, r"fylt|fulltegnet|full|fulle|tatt|besatt"),
        (PLACES, r"plasser|plassene|plass"),
        (LEFT, r"igjen|ledige|ledig|gjenstår|resterende|åpne|frie"),
        (PROGRESS, r"hittil|foreløpig|nå|langt|startet|begynt|begynte|teller|telleren"),
        (MODAL, r"skal|vil|kommer|planlagt"),
        (INCREMENT, r"nye|ny|ytterligere|flere"),
        (TOTAL, r"totalt|sammen|alt"),
        (ALL, r"alle|samtlige|hver"),
    ],
    "de": [
        (VETO, r"respond\w*|sprach(?:en)?|ansprech\w*|besser\w*|gebessert|verbesser\w*|nebenwirkung\w*|rückfall\w*"
               r"|abgebrochen|brachen|schieden|ausgeschieden|ausgeschlossen|gestorben|verstorben|screen\w*"
               r"|gescreent|warteliste\w*|gefragt|beworben|bewerb\w*|angemeldet|interesse\w*|anfrage\w*|kontakt\w*"
               r"|fragebogen|fragebögen|umfrage\w*|online|diagnos\w*|nicht|kein|keine|keinen|keiner|nie|niemals"
               r"|wenn|falls|sobald|ob|sofern|erst|würde|würden|könnte|könnten|krank|nk|zelle\w*|mikroliter|punkte\w*|skala|score"
               r"|weltweit|bundesweit|erkrankt|leiden|prävalenz"),
        (ENROL, r"eingeschlossen\w*|randomisiert\w*|rekrutiert\w*|aufgenommen|eingeschrieben|inkludiert\w*"
                r"|teilgenommen|dabei|tatsächlich\w*"),
        (ENROL_PLAN, r"einschließen|einzuschließen|einschliessen|rekrutieren|randomisieren|aufnehmen|aufzunehmen"
                     r"|teilnehmen|erreichen"),
        (REACHED, r"erreicht|erreichte|erreichten"),
        (TARGET, r"rekrutierungsziel\w*|einschlussziel\w*"),
        (ENROL_NOUN, r"rekrutierung\w*|einschluss\w*|randomisierung\w*"),
        (SIZE, r"umfass\w*"),
        (TARGET_ADJ, r"gesucht|geplant\w*|angestrebt\w*|vorgesehen\w*|benötigt\w*|beabsichtigt\w*|erforderlich\w*"
                     r"|ausgelegt|konzipiert"),
        (TARGET_VERB, r"möchten|möchte|wollen|plan\w*"),
        (TARGET, r"ziel\w*|fallzahl\w*|stichprobe\w*|teilnehmerzahl"),
        (COMPLETE, r"abgeschlossen\w*|abschlossen|abschloss|beendet|absolviert|durchlaufen|fertig"),
        (FULL, r"besetzt|vergeben|voll|ausgebucht|belegt"),
        (PLACES, r"plätze|studienplätze|platz"),
        (LEFT, r"frei|freie|freien|übrig|verbleibende\w*|offen|offene|verfügbar\w*"),
        (PROGRESS, r"bisher|bislang|inzwischen|mittlerweile|derzeit|aktuell|jetzt|bereits|heute|begonnen|gestartet"
                   r"|zähler|zählerstand"),
        (MODAL, r"soll|sollen|werden|wird|will"),
        (INCREMENT, r"weitere|weiteren|neue|neuen|zusätzliche\w*|hinzu|dazu"),
        (TOTAL, r"insgesamt|gesamt"),
        (ALL, r"alle|sämtliche|jeder|jede"),
    ],
    "nl": [
        (VETO, r"reageer\w*|reageerden|respons\w*|beter|verbeter\w*|bijwerking\w*|terugval\w*|stopten|gestopt"
               r"|uitgevallen|vielen|uitval|uitgesloten|overleden|screen\w*|gescreend|wachtlijst\w*|gevraagd"
               r"|aangemeld|aanmeld\w*|vraag|interesse|belangstelling|contact\w*|vragenlijst\w*|enquête\w*|online"
               r"|klacht\w*|diagnose\w*|voelden|niet|geen|nooit|als|indien|zodra|tenzij|wanneer|zou|zouden|ziek|nk|cellen|microliter|punten|schaal|score"
               r"|wereldwijd|landelijk|lijden|prevalentie"),
        (ENROL, r"ge[iï]ncludeerd\w*|ingesloten|gerekruteerd|geworven|gerandomiseerd\w*|opgenomen|ingeschreven"
                r"|randomiseerde|includeerde|deelgenomen|binnen|daadwerkelijk\w*"),
        (ENROL_PLAN, r"includeren|werven|randomiseren|rekruteren|insluiten|bereiken"),
        (REACHED, r"bereikt|gehaald|behaald"),
        (TARGET, r"inclusiedoel\w*|wervingsdoel\w*|streef\w*"),
        (ENROL_NOUN, r"inclusie\w*|werving|rekrutering|randomisatie"),
        (TARGET_ADJ, r"beoogde|beoogd|geplande|gepland|benodigde|vereiste|opgezet|ontworpen"),
        (SIZE, r"omvat|omvatten|omvatte"),
        (TARGET_VERB, r"streeft|streven|nodig|willen|wil|zoekt|zoeken"),
        (TARGET, r"doel\w*|beoogt|bedoeling|steekproef\w*"),
        (COMPLETE, r"afgerond|afrondden|afrondde|voltooid|voltooiden|voltooide|doorlopen|beëindigd|klaar"),
        (FULL, r"bezet|vergeven|gevuld|vol"),
        (PLACES, r"plaatsen|plekken|plaats"),
        (LEFT, r"vrij|over|open|resterende|beschikbaar"),
        (PROGRESS, r"inmiddels|momenteel|nu|reeds|al|gestart|begonnen|teller|tellerstand"),
        (MODAL, r"zal|zullen|moet|moeten|worden|wordt|gaat|gaan"),
        (INCREMENT, r"nieuwe|extra|bij"),
        (TOTAL, r"totaal"),
        (ALL, r"alle|ieder|elke"),
    ],
}
_COMPILED: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    lang: [(kind, re.compile(pattern)) for kind, pattern in cues] for lang, cues in _WORD_CUES.items()
}


def word_cue(low: str, lang: str) -> str | None:
    """The cue kind of one lower-case word in ``lang`` (None: not a cue)."""
    for kind, pattern in _COMPILED[lang]:
        if pattern.fullmatch(low):
            return kind
    return None


#: the words that start a new clause, per language (commas, semicolons ... are handled as marks)
CONJUNCTIONS: dict[str, frozenset[str]] = {
    "en": frozenset("and but while whereas although though after".split()),
    "nb": frozenset("og men mens selv etter".split()),
    "de": frozenset("und aber während wobei sowie nachdem".split()),
    "nl": frozenset("en maar terwijl hoewel nadat".split()),
}
#: prepositions that start a clause when a number follows ("with 17 completing", "med 20 fullført")
WITH: dict[str, frozenset[str]] = {
    "en": frozenset({"with"}), "nb": frozenset({"med"}), "de": frozenset({"mit"}), "nl": frozenset({"met"}),
}
#: "X of Y": the words between the two numbers
OF: dict[str, frozenset[str]] = {
    "en": frozenset({"of"}), "nb": frozenset({"av"}), "de": frozenset({"von", "der"}), "nl": frozenset({"van"}),
}
ARTICLES = frozenset("""the a an its their our this these those de den det dei sine sitt sin der die das dem des den
seinen ihren ihrer het een hun haar zijn""".split())
#: words that start a relative clause: it is about the trial named just before it
RELATIVE = frozenset("which who that whom som der die das welche welcher dat wie".split())
#: "Unlike RituxME", "compared with the PACE trial": the trial named next is not the one reported on
COMPARISON = frozenset("""unlike like than compared versus vs earlier previous prior former motsetning
sammenlignet tidligere forrige anders als gegensatz verglichen früheren vorherigen tegenstelling
vergeleken eerdere vorige""".split())
#: words that open a condition; a clause that continues one gives no figure either (:mod:`.roles`)
CONDITIONALS: dict[str, frozenset[str]] = {
    "en": frozenset("if once unless whenever".split()), "nb": frozenset("hvis dersom når om".split()),
    "de": frozenset("wenn falls sobald sofern".split()), "nl": frozenset("als indien zodra tenzij wanneer".split()),
}
#: an inverted condition opening the sentence: "Should funding be extended, ...", "Sollten weitere Mittel ..."
INVERTED_CONDITIONALS = frozenset("should sollte sollten mocht mochten skulle".split())
#: "still"/"more" before a count and "needed"/"missing" near it: a shortfall ("nog 18 deelnemers nodig")
STILL = frozenset("still more another nog noch fortsatt ennå".split())
NEEDED = frozenset("needed need required missing nodig trenger mangler gjenstår fehlen fehlt benötigt".split())
#: a follow-up visit or period: "had the week-24 visit", "hadde kontrollen", "het bezoek gehad"
FOLLOW_UP = frozenset("""follow followup visit visits oppfølging oppfølgingen oppfølgingsperioden kontroll kontrollen
nachbeobachtung visite nachuntersuchung kontrolle kontrolltermin bezoek controle nacontrole""".split())
#: words for a trial, after which a name is a trial's name ("the PACE trial", "ResetME-studien")
TRIAL_WORDS = frozenset("""trial trials study pilot studien studie studiens pilotstudien forsøket study's
kohort studiet studien's""".split())
#: "in the study": a count of people "in the trial" is enrolled
IN_WORDS = frozenset({"in", "i", "aan"})
STUDY_NOUNS = frozenset("""study trial studien studie forsøket prosjektet onderzoek pilot pilotstudien
pilotstudie""".split())
