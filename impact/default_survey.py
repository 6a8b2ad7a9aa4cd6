"""The survey that ships: access, business results, household, money management, resilience.

Questions ask for a level (income band, meals skipped, stress), not for a change, so
that a follow-up compared with the baseline measures the change. Installed by
`surveys.ensure_default_survey` (seed-demo, `flask impact install-survey`, or the
first time a member is due a survey).
"""

from __future__ import annotations

from typing import Any

CODE = "mkopo-core"


def _o(en: str, sw: str, score: int | None, next: str | None = None) -> dict[str, Any]:
    return {"text": {"en": en, "sw": sw}, "score": score, "next": next}


def _q(qid: str, dimension: str | None, en: str, sw: str, *options: dict[str, Any]
       ) -> dict[str, Any]:
    return {"id": qid, "dimension": dimension, "text": {"en": en, "sw": sw},
            "options": list(options)}


DEFAULT_SURVEY: dict[str, Any] = {
    "code": CODE,
    "name": "Mkopo impact survey",
    "sample_rate": "1",
    "milestones": ["mid_term", "repaid"],
    "dimensions": ["access", "business", "household", "financial_management", "resilience"],
    "questions": [
        _q("access", "access",
           "If your business needed KES 5,000 next week, could you borrow it at a fair cost?",
           "Biashara yako ikihitaji KES 5,000 wiki ijayo, ungeweza kuikopa kwa gharama nafuu?",
           _o("No", "Hapana", 0), _o("Maybe", "Labda", 1), _o("Yes", "Ndiyo", 2)),
        _q("income", "business", "Your usual business income in a week?",
           "Mapato yako ya kawaida ya biashara kwa wiki?",
           _o("Under KES 1,000", "Chini ya KES 1,000", 0),
           _o("KES 1,000-3,000", "KES 1,000-3,000", 1),
           _o("KES 3,000-10,000", "KES 3,000-10,000", 2),
           _o("Over KES 10,000", "Zaidi ya KES 10,000", 3)),
        _q("employees", "business", "Apart from you, how many people work in your business?",
           "Mbali na wewe, watu wangapi wanafanya kazi katika biashara yako?",
           _o("None", "Hakuna", 0), _o("One", "Mmoja", 1),
           _o("Two or three", "Wawili au watatu", 2),
           _o("Four or more", "Wanne au zaidi", 3)),
        _q("food", "household", "Last month, did your household skip meals for lack of money?",
           "Mwezi uliopita, familia yako ilikosa mlo kwa kukosa pesa?",
           _o("Often", "Mara nyingi", 0), _o("Sometimes", "Wakati mwingine", 1),
           _o("Never", "Hapana", 2)),
        _q("children", None, "Do you have children of school age?",
           "Una watoto wenye umri wa kwenda shule?",
           _o("Yes", "Ndiyo", None), _o("No", "Hapana", None, next="health")),
        _q("school", "household", "Are they all in school this term?",
           "Wote wako shuleni muhula huu?",
           _o("All of them", "Wote", 2), _o("Some", "Baadhi", 1), _o("None", "Hakuna", 0)),
        _q("health", "household",
           "When someone at home was ill lately, could you pay for care?",
           "Mtu nyumbani alipougua hivi karibuni, uliweza kulipia matibabu?",
           _o("No", "Hapana", 0), _o("With difficulty", "Kwa shida", 1), _o("Yes", "Ndiyo", 2),
           _o("No one was ill", "Hakuna aliyeugua", None)),
        _q("stress", "financial_management", "How do you feel about paying your installments?",
           "Unajisikiaje kuhusu kulipa awamu zako?",
           _o("Very stressed", "Wasiwasi mkubwa", 0), _o("A little stressed", "Wasiwasi kidogo", 1),
           _o("No stress", "Bila wasiwasi", 2), _o("I have no loan", "Sina mkopo", None)),
        _q("records", "financial_management", "Do you keep a record of your business money?",
           "Unaweka kumbukumbu za pesa za biashara yako?",
           _o("No", "Hapana", 0), _o("Sometimes", "Wakati mwingine", 1),
           _o("Yes, always", "Ndiyo, kila mara", 2)),
        _q("shock", "resilience", "If you lost a week of income, how would you cope?",
           "Ukikosa mapato ya wiki moja, ungefanyaje?",
           _o("I could not", "Singeweza", 0),
           _o("Borrow or sell things", "Kukopa au kuuza vitu", 1),
           _o("Use my savings", "Kutumia akiba yangu", 2)),
        _q("saving", "resilience", "Do you save some money every month?",
           "Unaweka akiba kila mwezi?",
           _o("No", "Hapana", 0), _o("Some months", "Baadhi ya miezi", 1),
           _o("Every month", "Kila mwezi", 2)),
    ],
}
