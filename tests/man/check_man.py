#!/usr/bin/env python3
"""make check-man: the manual pages in man/ against mandoc and the programs.

  1. mandoc -T lint over every page reports nothing, with two exceptions
     that are about this machine, not about the pages:
       - "outdated mandoc.db lacks NAME(SEC) entry": mandoc found a page
         a cross reference (.Xr) names by searching the file system,
         because this system has no mandoc.db search index;
       - "referenced manual not found: Xr NAME SEC" where man/NAME.SEC is
         one of ours: mandoc looks cross references up only in the
         system's manual tree (/usr/share/man), where our pages are not
         until they are installed.
     A cross reference to a page that exists nowhere still fails (a typo,
     or a package missing from the Makefile's lists).
  2. Every program the Makefile builds (--program, one per program) has a
     page in section 8, and every page in section 8 is a program.
  3. For each program, the options its --help lists are exactly those the
     OPTIONS section of its page documents (".It Fl ..." items, short and
     long), and its SYNOPSIS names no other option.
  4. No page names an option (".Fl") that no program has.

A program's --help lists its options on lines that start with at most 8
spaces and a dash, the option and its argument first, its description
after two spaces or more; continuation lines are indented further.
"""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# An option as a word of its own: -x or --long-name.
OPT_RE = re.compile(r"(?<![\w/-])(--?[A-Za-z0-9][A-Za-z0-9-]*)")
# An mdoc macro name that ends the arguments of Fl (Ar, Ns, Op, Oc ...).
MACRO_RE = re.compile(r"^[A-Z][a-z]{1,2}$")
DELIMITERS = set(",;:.()[]|")


def help_options(program):
    """The options program --help lists."""
    r = subprocess.run([program, "--help"], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0:
        raise SystemExit("%s --help exited %d: %s" % (
            program, r.returncode, r.stderr.strip()))
    opts = set()
    for line in r.stdout.splitlines():
        if not re.match(r"^ {1,8}-", line):
            continue
        spec = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        opts.update(OPT_RE.findall(spec))
    if not opts:
        raise SystemExit("%s --help lists no option" % program)
    return opts


def mdoc_words(line):
    """The words of an mdoc macro line, quotes respected."""
    words, cur, quoted = [], "", False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch in " \t" and not quoted:
            if cur:
                words.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        words.append(cur)
    return words


def fl_options(words):
    """The options the Fl macros among words print: "Fl n" is -n,
    "Fl \\-name" is --name; "Fl a b" is -a -b."""
    opts, in_fl = [], False
    for w in words:
        if w == "Fl":
            in_fl = True
            continue
        if not in_fl:
            continue
        if MACRO_RE.match(w) or w in DELIMITERS:
            in_fl = False
            continue
        w = w.replace("\\-", "-").replace("\\&", "")
        if w:
            opts.append("-" + w)
    return opts


def page_options(path):
    """{section name: [(line number, options, is an .It line)]}."""
    out, section = {}, ""
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.startswith("."):
                continue
            words = mdoc_words(line[1:])
            if not words:
                continue
            if words[0] == "Sh":
                section = " ".join(words[1:])
                continue
            opts = fl_options(words)
            if opts:
                out.setdefault(section, []).append(
                    (n, opts, words[0] == "It"))
    return out


def lint(pages):
    ours = {os.path.basename(p) for p in pages}
    r = subprocess.run(["mandoc", "-T", "lint"] + pages,
                       capture_output=True, text=True, timeout=60)
    bad = []
    for line in (r.stdout + r.stderr).splitlines():
        if re.match(r"^mandoc: outdated mandoc\.db lacks \S+ entry", line):
            continue
        m = re.search(r"referenced manual not found: Xr (\S+) (\S+)", line)
        if m and "%s.%s" % m.groups() in ours:
            continue
        bad.append(line)
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--program", action="append", default=[],
                    help="a program the Makefile builds (repeatable)")
    ap.add_argument("--man", default=os.path.join(ROOT, "man"))
    args = ap.parse_args()

    pages = sorted(os.path.join(args.man, p) for p in os.listdir(args.man)
                   if re.fullmatch(r"[\w.@-]+\.[1-9]", p))
    problems = ["mandoc -T lint: " + line for line in lint(pages)]

    programs = {os.path.basename(p): p for p in args.program}
    section8 = {os.path.basename(p)[:-2]: p for p in pages
                if p.endswith(".8")}
    for name in sorted(set(programs) - set(section8)):
        problems.append("%s: no manual page man/%s.8" % (name, name))
    for name in sorted(set(section8) - set(programs)):
        problems.append("man/%s.8: no such program in the Makefile's "
                        "PROGRAMS" % name)

    helps = {name: help_options(path) for name, path in programs.items()}
    every = set().union(*helps.values()) if helps else set()
    for page in pages:
        rel = os.path.relpath(page, ROOT)
        name = os.path.basename(page)[:-2]
        found = page_options(page)
        if name in helps:
            documented = {o for _, opts, is_item in found.get("OPTIONS", [])
                          if is_item for o in opts}
            synopsis = {o for _, opts, _ in found.get("SYNOPSIS", [])
                        for o in opts}
            for o in sorted(helps[name] - documented):
                problems.append("%s: %s is in %s --help but not in OPTIONS"
                                % (rel, o, name))
            for o in sorted(documented - helps[name]):
                problems.append("%s: OPTIONS documents %s, which %s --help "
                                "does not list" % (rel, o, name))
            for o in sorted(synopsis - helps[name]):
                problems.append("%s: SYNOPSIS names %s, which %s --help "
                                "does not list" % (rel, o, name))
        for section, entries in found.items():
            for n, opts, _ in entries:
                for o in opts:
                    if o not in every:
                        problems.append("%s:%d: %s is an option of no "
                                        "program" % (rel, n, o))

    for p in problems:
        print("check-man: " + p)
    if problems:
        return 1
    print("check-man: %d pages lint clean; options of %s match their pages"
          % (len(pages), ", ".join(sorted(programs)) or "no program"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
