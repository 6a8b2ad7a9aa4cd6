"""A developer's machine: the demo world (`demo`) and the dev server behind `python3 dev.py run`.

Never imported by the domain; imports no edge module either: the dev server starts the
gateway's processes by their command lines, and the gateway's `seed-demo` command
(`gateway.demo_cli`) builds the demo world from here.
"""
