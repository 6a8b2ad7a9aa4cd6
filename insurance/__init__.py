"""Micro-insurance: credit-life cover on loans and hospital-cash cover, claims, the pool.

No Flask here. Lending knows cover only through `lending.cover` (the pool account
and a hook when a covered loan is paid out); payments knows it only through the
intent kinds registered in `insurance.wiring`. See `docs/insurance.md`.
"""
