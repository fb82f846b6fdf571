#!/usr/bin/env python3
"""Architecture checks on src/ (issue 11), as a test:

- no include cycle among src/'s modules (x.c and x.h are one module; a module's includes are
  those of both files): the planner, the tuning database, the layer and the kernel paths call
  each other only downwards (a path is reached through its descriptor, the device's release
  hook through a pointer);
- no per-path branch outside src/paths/: no file there names a path's descriptor or a PATH_*
  enumerator of one.

Usage: architecture.py SRC_DIR
"""
import os
import re
import sys


def modules(src):
    """{module: set of modules it includes}, for every .c/.h below src."""
    files = []
    for directory, _, names in os.walk(src):
        files += [os.path.relpath(os.path.join(directory, n), src) for n in names
                  if n.endswith(('.c', '.h'))]
    graph = {}
    for f in files:
        with open(os.path.join(src, f), encoding='utf-8') as handle:
            text = handle.read()
        module = os.path.splitext(f)[0]
        graph.setdefault(module, set())
        for name in re.findall(r'#include "([^"]+)"', text):
            target = os.path.normpath(os.path.join(os.path.dirname(f), name))
            if target in files and os.path.splitext(target)[0] != module:
                graph[module].add(os.path.splitext(target)[0])
    return graph


def cycle(graph):
    """One cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(u):
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state:
                found = visit(v)
                if found:
                    return found
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state:
            found = visit(u)
            if found:
                return found
    return None


def path_names(src):
    """The paths of the table's list (src/paths/paths.h), or [] without one."""
    try:
        with open(os.path.join(src, 'paths', 'paths.h'), encoding='utf-8') as handle:
            return re.findall(r'\bX\((\w+)\)', handle.read())
    except FileNotFoundError:
        return []


def main():
    src = sys.argv[1]
    problems = []
    found = cycle(modules(src))
    if found:
        problems.append('include cycle: ' + ' -> '.join(found))
    names = path_names(src)
    if not names:
        problems.append('no paths found in src/paths/paths.h')
    names = names or ['phase', 'phase_pos', 'phase_chan', 'phase_dw', 'gemm', 'phase_fold']
    pattern = re.compile(r'\b(clconvt_path_(%s)|PATH_(%s))\b' % (
        '|'.join(names), '|'.join(n.upper() for n in names)))
    for directory, _, files in os.walk(src):
        if os.path.relpath(directory, src).split(os.sep)[0] == 'paths':
            continue
        for n in files:
            if not n.endswith(('.c', '.h')):
                continue
            with open(os.path.join(directory, n), encoding='utf-8') as handle:
                for number, line in enumerate(handle, 1):
                    match = pattern.search(line)
                    if match:
                        problems.append('%s:%d names the path %s outside src/paths/' % (
                            os.path.relpath(os.path.join(directory, n), src), number,
                            match.group(1)))
    for p in problems:
        print(p)
    print('%d problems' % len(problems))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
