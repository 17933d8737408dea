"""Follow-ups without a rewriting model: what a turn searches for, and why.

A model that cannot rewrite "and how do I remove it?" into a standalone question (the
bundled demo model; `follow_up_rewrite = previous`) still needs the topic in the search.
The rule: a question that reads as a follow-up is searched together with the previous
question *as the user typed it* (never with the previous search, which may itself hold an
earlier question: searches would grow with every turn); any other question is searched
alone. So a search holds at most two questions, and a new topic starts clean.

A question reads as a follow-up when it
- starts with a word that continues ("and ...", "what about ...", "그럼 ...", "그리고 ..."),
- refers back ("it", "that", "them", "one", "instead", "그건", "그거", "이건", "그 ..."),
- asks about something more in few words ("... 범위는요?", "... 슬롯도 있나요?"), or
- is short: at most two words about its subject ("What is the default maximum?"), unless
  one of them names something the previous question did not (`HTTP/2`, `max_connections`,
  `SOCKS`, `v3`: a word with a digit, a joiner such as `_ / . -`, or capitals after its first
  letter): "How do I use HTTP/2?" after two questions on timeouts is a new topic; not in
  Korean, where a word holds its particles and a new question is often two or three words
  ("Pinia는 무엇이고 왜 쓰나요?"), while a follow-up says so (그럼, 그건, ...도, ...는요).

A greeting or thanks before it is no topic to carry over: the question is searched alone.

Measured on two- and three-turn conversations about three documentation folders (English
and Korean): benchmarks/followups.py, docs/explanation/pipeline-and-cache.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ragchat.pipeline.parsing import is_small_talk
from ragchat.pipeline.relevance import is_cjk
from ragchat.pipeline.state import PastTurn

# English: words a question opens with when it continues the last one
LEADS = frozenset("and also but or so then plus besides otherwise same".split())
LEAD_PAIRS = frozenset({("what", "about"), ("how", "about"), ("what", "if"), ("why", "not"),
                        ("in", "that"), ("if", "so"), ("if", "not")})
# English: words a reply may open with before the question proper ("hmm, and ...")
INTERJECTIONS = frozenset("hmm hm um uh oh ah ok okay well right yes yeah no great thanks "
                          "cool nice sure".split())
# English: words that point back at what was said before
REFERS = frozenset("it its itself they them their theirs that this these those one ones "
                   "such same instead too either former latter else again".split())
# English: words of asking, not of the subject (a question's "content" is what is left)
ASKING = frozenset("""a an and are as at be by for from has have how i in is it its of on or
that the this to was were what when where which who whom whose why will with do does did can
could would should shall may might must you your me my we our us there any some way ways
possible want need please tell know something anything also just into if so all then than
get got use using used make made instead too either else again not no yes about out up
ok okay else one ones they them their these those such same doesn don isn aren wasn weren
didn won t s d ll ve re m""".split())
SHORT = 2  # content words at most, for a question to read as a follow-up by its length

# Korean: 그럼 (then), 그리고 (and), 근데 (but), 아니면 (or) ... opening a question
KOREAN_LEADS = frozenset("그럼 그러면 그렇다면 그리고 그런데 근데 또 또는 아니면 그래서 "
                         "그러니까 하지만 그치만 그럼요 그리고요".split())
# Korean: demonstratives (그것/이것/저것 and their short forms with particles; 그, 이, 저
# before a noun; 거기, 그때, 해당 ...), as the first word or any later one
KOREAN_REFERS = re.compile(r"^(?:[그이저](?:것|거|건|걸|게|런|렇|래|때|쪽|곳|중)\S*|[그이저]|"
                           r"거기\S*|여기\S*|해당\S*|위의|앞의|방금|아까)$")
# Korean: a question that only names what else it asks about: "... 범위는요?", "... 끄려면요?"
KOREAN_ELLIPSIS = re.compile(r"(?:은|는|도|만|면)요\s*[?？]*\s*$")
# Korean: "X도" (X too) on a noun; words that end in 도 of their own are not it
KOREAN_TOO = re.compile(r"^\S+도$")
KOREAN_NOT_TOO = frozenset("정도 속도 온도 제도 용도 의도 시도 각도 빈도 강도 밀도 태도 지도 "
                           "적어도 그래도 최소한도 한도 진도 농도 척도 난이도 고도 습도".split())
# Korean words of asking (the same role as ASKING)
KOREAN_ASKING = frozenset("""어떻게 어떡해 어떤 무엇 무엇인가요 무엇을 무엇이고 뭐 뭘 뭐가 뭔가요 왜
어디 어디서 어디에 언제 방법 방법이 방법은 방법을 가능한가요 가능할까요 가능해요 있나요 있을까요
있어요 있는지 없나요 하나요 할까요 해요 하죠 되나요 될까요 돼요 되요 알려주세요 알려줘 궁금해요 좀
혹시 그냥 싶어요 싶은데 하고 해야 하는 하면 되는 뭘까요 게 거 것 중에 중 때 할 쓸 수 있게 있는
같은 너무 아주 잘 더 해야 하나요 쓰나요 하려면 하면요 건가요 거예요 건데 되는지""".split())

_WORD = re.compile(r"[^\W_]+(?:[./+#-][^\W_]+)*")
# a name rather than a word: a digit, an inner joiner, or a capital after the first letter
_NAME = re.compile(r"\w*\d\w*|\w+[_./+#:-]\w+|\w+[A-Z]\w*")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


@dataclass(frozen=True)
class FollowUpVerdict:
    """Whether a question reads as a follow-up, and the cue that decided it (for /why)."""

    follows: bool
    reason: str


def _english(words: list[str]) -> FollowUpVerdict | None:
    while len(words) > 1 and words[0] in INTERJECTIONS:
        words = words[1:]
    if words and words[0] in LEADS:
        return FollowUpVerdict(True, f'it starts with "{words[0]}"')
    if tuple(words[:2]) in LEAD_PAIRS:
        return FollowUpVerdict(True, f'it starts with "{" ".join(words[:2])}"')
    back = next((w for w in words if w in REFERS), None)
    if back:
        return FollowUpVerdict(True, f'it refers back ("{back}")')
    if words and words[-1] == "then":  # "What happens to the events then?"
        return FollowUpVerdict(True, 'it ends with "then"')
    return None


def _korean(eojeol: list[str]) -> FollowUpVerdict | None:
    bare = [re.sub(r"[?？!.,~]+$", "", w) for w in eojeol]
    if bare and bare[0] in KOREAN_LEADS:
        return FollowUpVerdict(True, f'it starts with "{bare[0]}"')
    back = next((w for w in bare if KOREAN_REFERS.match(w)), None)
    if back:
        return FollowUpVerdict(True, f'it refers back ("{back}")')
    if KOREAN_ELLIPSIS.search(" ".join(eojeol)):
        return FollowUpVerdict(True, f'it asks "what about" ("{bare[-1]}")')
    too = next((w for w in bare if KOREAN_TOO.match(w) and _HANGUL.search(w)
                and w not in KOREAN_NOT_TOO), None)
    if too:
        return FollowUpVerdict(True, f'it asks about more ("{too}")')
    return None


def content_words(question: str) -> list[str]:
    """The words of a question about its subject: neither asking words nor one letter."""
    out = []
    for word in _WORD.findall(question.lower()):
        if _HANGUL.search(word):
            if word not in KOREAN_ASKING:
                out.append(word)
        elif word not in ASKING and len(word) > 1:
            out.append(word)
    return out


def new_name(question: str, previous: str) -> str | None:
    """A name in `question` (see _NAME) that `previous` does not hold, if any."""
    before = previous.lower()
    for word in question.split():
        word = word.strip("`'\"()[]{}<>?!,;:.")
        if _NAME.fullmatch(word) and not _HANGUL.search(word) and word.lower() not in before:
            return word
    return None


def read_follow_up(question: str, previous: str = "") -> FollowUpVerdict:
    """Does `question` read as a follow-up of `previous` (the question before it), and why
    (or why not)?"""
    words = [w.lower() for w in _WORD.findall(question)]
    verdict = _english(words) or _korean(question.split())
    if verdict:
        return verdict
    subject = content_words(question)
    name = new_name(question, previous) if previous else None
    if name is not None and len(subject) <= SHORT and not is_cjk(question):
        return FollowUpVerdict(False, f'it names something new ("{name}") in a short question')
    if len(subject) <= SHORT and not is_cjk(question):
        what = "word" if len(subject) == 1 else "words"
        return FollowUpVerdict(True, f"it is short ({len(subject)} {what} about its subject)")
    return FollowUpVerdict(False, f"it reads as a question of its own ({len(subject)} words "
                                  "about its subject, none that refers back)")


def without_lead(question: str) -> str:
    """The question without the word that makes it continue ("그럼 행사는 어디서 열려?" ->
    "행사는 어디서 열려?"): that word is about the conversation, not the subject, and a
    passage's share of the question's words (relevance.py) should not count it."""
    words = question.split()
    bare = [re.sub(r"[?？!.,~]+$", "", w).lower() for w in words]
    at = 0
    while at < len(words) - 1 and (bare[at] in INTERJECTIONS or bare[at] in LEADS
                                   or bare[at] in KOREAN_LEADS):
        at += 1
    return " ".join(words[at:]) if at else question


PREVIOUS_AND_THIS = "previous question + this one"
THIS_ALONE = "this question alone"
PREVIOUS_CHARS = 300  # at most this much of the previous question goes into the search


@dataclass(frozen=True)
class FollowUpSearch:
    """What a turn searches for without a rewrite, and how /why says it came about."""

    query: str
    rewrite: str  # "previous question + this one, because ..." or "this question alone, ..."


def previous_question(turn: PastTurn) -> str:
    """The previous turn's question as a standalone one: what the model rewrote it into,
    else what the user typed (never a search that glued questions together)."""
    text = turn.standalone if turn.rewritten and turn.standalone else turn.question
    return text.strip()[-PREVIOUS_CHARS:].strip()


def switched_collection(turns: Sequence[PastTurn], collection: str | None) -> bool:
    """The previous turn searched another collection than `collection` (a /collection
    switch since); False when either is not known."""
    previous = turns[-1] if turns else None
    return (previous is not None and collection is not None
            and previous.collection not in (None, collection))


def follow_up_search(turns: Sequence[PastTurn], question: str,
                     collection: str | None = None) -> FollowUpSearch:
    """The search for `question` after `turns`, by the rule above. A previous turn that
    searched another collection (a /collection switch) is not glued to this one."""
    previous = turns[-1] if turns else None
    if previous is None or not previous_question(previous):
        return FollowUpSearch(question, f"{THIS_ALONE}: no earlier question to go with")
    if is_small_talk(previous.question):
        return FollowUpSearch(question, f"{THIS_ALONE}: the previous message was small talk")
    if switched_collection(turns, collection):
        return FollowUpSearch(question, f"{THIS_ALONE}: the previous question searched "
                                        f"another collection ({previous.collection})")
    verdict = read_follow_up(question, previous_question(previous))
    if not verdict.follows:
        return FollowUpSearch(question, f"{THIS_ALONE}, because {verdict.reason}")
    return FollowUpSearch(f"{previous_question(previous)} {question}".strip(),
                          f"{PREVIOUS_AND_THIS}, because {verdict.reason}")
