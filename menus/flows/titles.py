"""Flow names as the borrower knows them (shown when offering to resume)."""

from __future__ import annotations

from menus.texts import N_

FLOW_TITLES = {
    "reg": N_("Registration"),
    "balance": N_("My balance"),
    "apply": N_("Apply for a loan"),
    "repay": N_("Repay loan"),
    "statement": N_("Mini statement"),
    "account": N_("My account"),
    "help": N_("Help"),
    "ticket": N_("Complaint or hardship"),
    "lend": N_("Lend"),
    "save": N_("Akiba savings"),
    "bima": N_("Bima insurance"),
    "survey": N_("Survey"),
    "learn": N_("Learn"),
}
