"""Financial education: short lessons with a one-question check, and who completed which.

The lessons' words are screen text (menus/flows/learn.py, in both catalogs); this
package holds what is not words: which option of each check is right, recording
attempts and completions, the borrower's own loan numbers for the interest lesson,
and what a field partner sees. No Flask (docs/education.md).
"""
