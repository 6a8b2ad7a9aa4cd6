"""Savings ("Akiba"): personal and goal savings accounts, monthly interest, chamas.

The domain: no Flask, no USSD. Money moves through `payments` (an STK push to
deposit, a B2C payout to withdraw) and is booked in the ledger under the
accounts of `savings.chart`. See docs/savings.md.
"""
