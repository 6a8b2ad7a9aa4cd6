"""Impact measured from the borrowers' own answers, and the platform's public figures.

- `definition`: a survey as data (questions, options, skip rules, scores per dimension),
  validated so every question fits one USSD screen in both languages;
- `surveys`: defining surveys and the default one that ships;
- `panel`: who is asked, when (baseline, loan milestones, sampled, once a month at most),
  consent, opt-out, and recording the answers;
- `statistics`: means, paired differences and confidence intervals (pure);
- `reports`: change from baseline by cohort, field partner, gender and sector, with small
  cells suppressed so that nothing identifies a member;
- `transparency`: the public figures, from the ledger and the loan book;
- `expenses`: operating expenses recorded in the ledger (the cost ratio's numerator).

No Flask here (docs/impact.md, docs/transparency.md).
"""
