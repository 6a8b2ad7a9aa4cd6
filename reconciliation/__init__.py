"""Reconciliation: Mkopo's records against M-Pesa's, and the operator's work on what differs.

Read in this order:

- `statements`     the provider's record: organisation statements imported all or nothing
- `config`         the rules' names and the matching knobs (`RECON_*` in the environment)
- `models`         our side's items, the runs, and the pairs they made
- `run`            `reconcile()`: one run, step by step, and what it found (`RunSummary`)
- `snapshot`       our side: intents and receipted ledger entries copied into `recon_items`
- `matching`       the rules (receipt, reference, phone and time, groups) in set-based SQL
- `break_finders`  what is left becomes a break of a named type; matched breaks close
- `resolutions`    an operator's actions on a break, with four-eyes approval over a limit
- `context`, `sql` what one run works on, and SQL pieces portable to PostgreSQL and SQLite
- `cli`            `flask --app gateway import-statement FILE | reconcile`

It reads payments (intents, the callback inbox, the breaks register in `payments.breaks`)
and the ledger; nothing below it imports it.
"""
